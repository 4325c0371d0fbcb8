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
register(ProjectInfo(
    name="nonlinear-regression",
    source=f"{_BOOK}, ch. 5: nonlinear synthetic function regression with one hidden layer",
    dataset="generated: y = 0.4x^2 + 2x + 0.8 + N(0, 0.22^2), 260 points on [-1, 1], 200 train / 60 test",
    published="the error of a single test point",
    module="mlprojects.projects.feedforward",
    summary="a 1 -> 10 sigmoid -> 1 network; test MSE on all 60 test points against the noise floor",
))
register(ProjectInfo(
    name="auto-mpg",
    source=f"{_BOOK}, ch. 5: modelling cars' fuel efficiency with nonlinear regression",
    dataset="auto-mpg (embedded): 398 cars, 7 attributes; 6 unknown horsepowers stored as 0",
    published="test MSE 15.08 with a [10, 5] network",
    module="mlprojects.projects.feedforward",
    summary="an MLP on imputed, one-hot, standardised features; test MSE and MAE in mpg",
))
register(ProjectInfo(
    name="wine",
    source=f"{_BOOK}, ch. 5: learning to classify wines (multiclass classification)",
    dataset="wine (embedded): 178 wines, 13 features, 3 cultivars",
    published="none for a held-out split (the book drops Proline and does not scale)",
    module="mlprojects.projects.feedforward",
    summary="an MLP or the book's softmax regression on all 13 standardised features; confusion matrix",
))
register(ProjectInfo(
    name="conv-demo",
    source=f"{_BOOK}, ch. 6: convolution and pooling applied to a photograph",
    dataset="book-images (embedded): blue_jay.jpg, leopard.jpg; or any image file by --set image=PATH",
    published="images only (its \"max pool\" listing calls avg_pool)",
    module="mlprojects.projects.conv_demo",
    summary="an edge-detection kernel, then max and average pooling, written side by side",
))
register(ProjectInfo(
    name="mnist-cnn",
    source=f"{_BOOK}, ch. 6: a LeNet-style CNN on MNIST (conv 5x5x32, pool, conv 5x5x64, pool, dense 1024, dropout)",
    dataset="mnist-10k (embedded); mnist, fashion-mnist by --set data=",
    published="none reliable (the book's weights start from N(0, 1))",
    module="mlprojects.projects.convnets",
    summary="the book's convnet with sane initialisation; its runs serve in the digit web app",
))
register(ProjectInfo(
    name="cifar10-cnn",
    source=f"{_BOOK}, ch. 6: CIFAR-10 image classification with a CNN",
    dataset="cifar10: the published Python-version archive (downloaded, sha256-checked)",
    published="an accuracy measured on the batch it trained on (not a test figure)",
    module="mlprojects.projects.convnets",
    summary="ResNet-9 with batch norm and augmentation by default, the book's network as --set preset=book",
))
register(ProjectInfo(
    name="energy-lstm",
    source=f"{_BOOK}, ch. 7: forecasting electricity load with an LSTM",
    dataset="elec-load (embedded): one client's 15-minute load 2011-2014, 140,256 readings; or your own CSV",
    published="test MSE 0.001139 in its scaled units ((x - 147) / 339), on the first ~14,000 readings",
    module="mlprojects.projects.sequences",
    summary="an LSTM forecaster against persistence and seasonal-naive baselines on a chronological split",
))
register(ProjectInfo(
    name="bach-charrnn",
    source=f"{_BOOK}, ch. 7: a character-level LSTM composing in ABC notation (trained on Bach's Goldberg Variations)",
    dataset="music21's corpus: Bach chorale melodies converted to ABC (default), or its ABC folk tunes",
    published="samples only (its corpus is no longer published)",
    module="mlprojects.projects.music",
    summary="validation bits per character, and the share of sampled tunes that are valid ABC; MIDI to listen to",
))
register(ProjectInfo(
    name="text-classify",
    source="Hugging Face notebook: fine-tuning a pretrained BERT for sequence classification",
    dataset="your labelled texts: --set train=FILE --set eval=FILE (.csv or .jsonl)",
    published="none (the notebook shows the steps, not a score)",
    module="mlprojects.projects.text_classify",
    summary="fine-tune any encoder on the engine; accuracy and macro-F1; saved with save_pretrained",
))
register(ProjectInfo(
    name="token-classify",
    source="Hugging Face notebook: fine-tuning a pretrained BERT for token classification (NER)",
    dataset="your tagged sentences: --set train=FILE --set eval=FILE (CoNLL or .jsonl)",
    published="none (the notebook shows the steps, not a score)",
    module="mlprojects.projects.token_classify",
    summary="fine-tune any encoder to tag tokens; entity precision, recall and F1 (seqeval's definition)",
))
