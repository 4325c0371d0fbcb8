"""The built-in projects, registered by name with their sources and published figures.

This module only registers metadata (no torch import); each project's code is imported when used.
"""

from mlprojects.registry import ProjectInfo, register

register(ProjectInfo(
    name="mnist-mlp",
    source="Keras notebook: MNIST MLP (784 -> 4x256 ReLU -> 10 softmax, SGD lr 0.087, batch 32, 15 epochs)",
    dataset="mnist-10k (embedded); mnist, fashion-mnist by --set data=",
    published="test accuracy 0.983 (full MNIST)",
    module="mlprojects.projects.mnist_mlp",
    summary="a fully connected network on MNIST digits, with every experiment of the notebook as a --set",
))

_BOOK = "Bonnin, Building ML Projects with TensorFlow"
register(ProjectInfo(
    name="kmeans-blobs",
    source=f"{_BOOK}, ch. 2: k-means on four Gaussian blobs, K=4, first-K-points start",
    dataset="generated: 200 points, centres (-2,-2) (-2,1.5) (1.5,-2) (2,1.5), std 0.8, seed 42",
    published="centroids ~ (1.65,-2.05) (-2.08,1.61) (-2.09,-2.07) (2.10,1.56) after 8 iterations",
    module="mlprojects.projects.clustering",
    summary="k-means with the centroids' path over the iterations",
))
register(ProjectInfo(
    name="kmeans-circles",
    source=f"{_BOOK}, ch. 2: k-means on two concentric circles, K=2",
    dataset="generated: make_circles, 200 points, noise 0.01, factor 0.4",
    published="a plot only (k-means splits the rings wrongly)",
    module="mlprojects.projects.clustering",
    summary="why k-means fails on rings (both have their mean at the origin), and a feature that fixes it",
))
register(ProjectInfo(
    name="knn-circles",
    source=f"{_BOOK}, ch. 2: nearest-neighbour classification of two noisy circles",
    dataset="generated: make_circles, 210 points, noise 0.12, factor 0.4, 70/30 split",
    published="none: the book prints the predicted labels and never scores them",
    module="mlprojects.projects.knn_circles",
    summary="1-NN test accuracy and decision regions",
))
register(ProjectInfo(
    name="linreg-synthetic",
    source=f"{_BOOK}, ch. 3: univariate linear regression by gradient descent",
    dataset="generated: y = 2x + 0.2 + N(0, 0.4^2), 101 points on [-1, 1]",
    published="w = 2.094, b = 0.256 after 100 epochs (lr 0.05, one sample at a time)",
    module="mlprojects.projects.linear_models",
    summary="gradient descent against the least-squares line, with the fit over the epochs",
))
register(ProjectInfo(
    name="linreg-boston",
    source=f"{_BOOK}, ch. 3: multivariate linear regression on Boston housing",
    dataset="boston (embedded; an ethically flawed dataset, see the project's notes)",
    published="none comparable: the book fits two separate one-feature lines",
    module="mlprojects.projects.linear_models",
    summary="a real multivariate regression on all 12 features; test RMSE against the closed form",
))
register(ProjectInfo(
    name="logreg-chd",
    source=f"{_BOOK}, ch. 4: univariate logistic regression, coronary heart disease against age",
    dataset="chd (embedded): 100 patients, age and CHD",
    published="accuracy 0.74 on its training data; 0.80 on 10 test rows (Keras version)",
    module="mlprojects.projects.linear_models",
    summary="test accuracy on a held-out split and the fitted logistic curve",
))
register(ProjectInfo(
    name="softmax-iris",
    source=f"{_BOOK}, ch. 4: multinomial (softmax) logistic regression; the skflow iris example",
    dataset="iris (embedded): 150 flowers, 4 features, 3 species",
    published="none for this split",
    module="mlprojects.projects.linear_models",
    summary="softmax regression: test accuracy and confusion matrix; C by grid search on request",
))
