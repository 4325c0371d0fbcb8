"""The built-in projects: one entry each, with everything other parts ask about a project.

This module only registers metadata (no torch import); each project's code is imported when used.
Adding a project: write its module (a subclass of one of the kinds in ``mlprojects.project`` and one
instance), then add its entry here.
"""

from mlprojects.registry import Entry, Published, register

_BOOK = "Bonnin, Building ML Projects with TensorFlow"
_HERE = "mlprojects.builtin"

# which way the figures of each family of projects are better (losses and time: mlprojects.rundir)
CLASSIFIER = {"test_accuracy": "max", "train_accuracy": "max", "worst_class_accuracy": "max"}
REGRESSOR = {"test_mse": "min", "test_rmse": "min", "test_mae": "min", "test_r2": "max"}
CLUSTERING = {"test_adjusted_rand_index": "max", "train_adjusted_rand_index": "max", "test_inertia": "min",
              "inertia": "min"}

register(
    Entry(
        name="tensor-basics", project=f"{_HERE}.tensors:TENSOR_BASICS",
        source=f"{_BOOK}, ch. 1: tensors (rank, shape, type, creation, matrix operations, reductions, "
               "segmentation, sequences, shape changes)",
        dataset="the book's own small tensors",
        published="the values the book's listings print",
        summary="each TensorFlow 1 tensor call beside its PyTorch equivalent and the value it gives, as a report",
        unreproduced="the book's listings print values, not a measured figure; tests/test_tensors.py checks each "
                     "of them",
    ),
    Entry(
        name="mnist-mlp", project=f"{_HERE}.mnist_mlp:PROJECT",
        source="Keras notebook: MNIST MLP (784 -> 4x256 ReLU -> 10 softmax, SGD lr 0.087, batch 32, 15 epochs)",
        dataset="mnist-10k (embedded); mnist, fashion-mnist by --set data=",
        published="test accuracy 0.983 (full MNIST)",
        summary="a fully connected network on MNIST digits, with every experiment of the notebook as a --set",
        goals=CLASSIFIER, serves="digits",
        reproduce=(
            Published("Keras notebook: MLP 784-4x256-10, SGD 0.087, batch 32, 15 epochs", "test accuracy 0.983",
                      "test_accuracy", 0.983, {"data": "mnist"}, seeds=1, data="mnist",
                      note="on full MNIST (60,000 training digits)"),
            Published("Keras notebook (same network)", "test accuracy 0.983 (full MNIST)", "test_accuracy", 0.983,
                      seeds=2, note="ours on the embedded 8,000/2,000 subset of MNIST, so a lower figure is expected"),
            Published("Fashion-MNIST benchmark table: MLP 256-128-100", "test accuracy 0.8833", "test_accuracy",
                      0.8833, {"data": "fashion-mnist"}, seeds=1, data="fashion-mnist",
                      note="the table's MLP is 256-128-100; ours is the notebook's 4x256"),
        ),
    ),
    Entry(
        name="kmeans-blobs", project=f"{_HERE}.clustering:KMEANS_BLOBS",
        source=f"{_BOOK}, ch. 2: k-means on four Gaussian blobs, K=4, first-K-points start",
        dataset="generated: 200 points, centres (-2,-2) (-2,1.5) (1.5,-2) (2,1.5), std 0.8, seed 42",
        published="centroids ~ (1.65,-2.05) (-2.08,1.61) (-2.09,-2.07) (2.10,1.56) after 8 iterations",
        summary="k-means with the centroids' path over the iterations",
        goals=CLUSTERING,
        reproduce=(Published("Bonnin ch. 2, k-means on 4 blobs", "converges in 8 iterations, centroids to 0.01",
                             "iterations", 8, seeds=1, also=("test_adjusted_rand_index",),
                             note="the centroids also agree to 0.01 (tests assert it)"),),
    ),
    Entry(
        name="kmeans-circles", project=f"{_HERE}.clustering:KMEANS_CIRCLES",
        source=f"{_BOOK}, ch. 2: k-means on two concentric circles, K=2",
        dataset="generated: make_circles, 200 points, noise 0.01, factor 0.4",
        published="a plot only (k-means splits the rings wrongly)",
        summary="why k-means fails on rings (both have their mean at the origin), and a feature that fixes it",
        goals=CLUSTERING,
        reproduce=(Published("Bonnin ch. 2, k-means on two rings", "a plot only", "test_adjusted_rand_index",
                             seeds=3, note="k-means cannot separate rings; `--set features=radius` gives 1.000"),),
    ),
    Entry(
        name="knn-circles", project=f"{_HERE}.knn_circles:PROJECT",
        source=f"{_BOOK}, ch. 2: nearest-neighbour classification of two noisy circles",
        dataset="generated: make_circles, 210 points, noise 0.12, factor 0.4, 70/30 split",
        published="none: the book prints the predicted labels and never scores them",
        summary="1-NN test accuracy and decision regions",
        goals=CLASSIFIER,
        reproduce=(Published("Bonnin ch. 2, nearest neighbour (k = 1)", "never scored", "test_accuracy", seeds=3),),
    ),
    Entry(
        name="linreg-synthetic", project=f"{_HERE}.linear_models:LINREG_SYNTHETIC",
        source=f"{_BOOK}, ch. 3: univariate linear regression by gradient descent",
        dataset="generated: y = 2x + 0.2 + N(0, 0.4^2), 101 points on [-1, 1]",
        published="w = 2.094, b = 0.256 after 100 epochs (lr 0.05, one sample at a time)",
        summary="gradient descent against the least-squares line, with the fit over the epochs",
        goals={**REGRESSOR, "least_squares_test_mse": "min"},
        reproduce=(Published("Bonnin ch. 3, gradient descent, lr 0.05, 100 epochs", "w = 2.094, b = 0.256",
                             "slope", 2.094, seeds=3, also=("intercept",),
                             note="the book's noise was unseeded; the true w is 2"),),
    ),
    Entry(
        name="linreg-boston", project=f"{_HERE}.linear_models:LINREG_BOSTON",
        source=f"{_BOOK}, ch. 3: multivariate linear regression on Boston housing",
        dataset="boston (embedded; an ethically flawed dataset, see the project's notes)",
        published="none comparable: the book fits two separate one-feature lines",
        summary="a real multivariate regression on all 12 features; test RMSE against the closed form",
        goals={"test_rmse": "min", **REGRESSOR, "least_squares_test_rmse": "min", "least_squares_test_r2": "max"},
        reproduce=(Published("Bonnin ch. 3 (fixed: one model on all 12 features)", "none (two separate lines)",
                             "test_rmse", seeds=1, also=("test_r2",)),),
    ),
    Entry(
        name="logreg-chd", project=f"{_HERE}.linear_models:LOGREG_CHD",
        source=f"{_BOOK}, ch. 4: univariate logistic regression, coronary heart disease against age",
        dataset="chd (embedded): 100 patients, age and CHD",
        published="accuracy 0.74 on its training data; 0.80 on 10 test rows (Keras version)",
        summary="test accuracy on a held-out split and the fitted logistic curve",
        goals={**CLASSIFIER, "test_log_loss": "min", "optimum_test_accuracy": "max"},
        reproduce=(Published("Bonnin ch. 4, logistic regression of CHD on age", "accuracy 0.74", "train_accuracy",
                             0.74, seeds=1, also=("test_accuracy",),
                             note="the book scored its training data; ours is compared on the training data too, "
                                  "and the held-out 30% is shown beside it"),),
    ),
    Entry(
        name="softmax-iris", project=f"{_HERE}.linear_models:SOFTMAX_IRIS",
        source=f"{_BOOK}, ch. 4: multinomial (softmax) logistic regression; the skflow iris example",
        dataset="iris (embedded): 150 flowers, 4 features, 3 species",
        published="none for this split",
        summary="softmax regression: test accuracy and confusion matrix; C by grid search on request",
        goals={**CLASSIFIER, "test_log_loss": "min"},
        reproduce=(Published("Bonnin ch. 4, softmax regression", "none", "test_accuracy", seeds=3),),
    ),
    Entry(
        name="nonlinear-regression", project=f"{_HERE}.feedforward:NONLINEAR_REGRESSION",
        source=f"{_BOOK}, ch. 5: nonlinear synthetic function regression with one hidden layer",
        dataset="generated: y = 0.4x^2 + 2x + 0.8 + N(0, 0.22^2), 260 points on [-1, 1], 200 train / 60 test",
        published="the error of a single test point",
        summary="a 1 -> 10 sigmoid -> 1 network; test MSE on all 60 test points against the noise floor",
        goals={**REGRESSOR, "train_mae": "min"},
        reproduce=(Published("Bonnin ch. 5, 1-10-1 sigmoid network", "the error of one test point", "test_mse",
                             seeds=3, note="one point is no test set; ours is over 60 held-out points"),),
    ),
    Entry(
        name="auto-mpg", project=f"{_HERE}.feedforward:AUTO_MPG",
        source=f"{_BOOK}, ch. 5: modelling cars' fuel efficiency with nonlinear regression",
        dataset="auto-mpg (embedded): 398 cars, 7 attributes; 6 unknown horsepowers stored as 0",
        published="test MSE 15.08 with a [10, 5] network",
        summary="an MLP on imputed, one-hot, standardised features; test MSE and MAE in mpg",
        goals={**REGRESSOR, "test_mae_mpg": "min", "train_mae": "min"},
        reproduce=(Published("Bonnin ch. 5, MLP regressor", "test MSE 15.08", "test_mse", 15.08, seeds=3,
                             also=("test_mae",)),),
    ),
    Entry(
        name="wine", project=f"{_HERE}.feedforward:WINE",
        source=f"{_BOOK}, ch. 5: learning to classify wines (multiclass classification)",
        dataset="wine (embedded): 178 wines, 13 features, 3 cultivars",
        published="none for a held-out split (the book drops Proline and does not scale)",
        summary="an MLP or the book's softmax regression on all 13 standardised features; confusion matrix",
        goals={**CLASSIFIER, "test_errors": "min"},
        reproduce=(Published("Bonnin ch. 5, softmax regression on 12 features", "none", "test_accuracy", seeds=3),),
    ),
    Entry(
        name="conv-demo", project=f"{_HERE}.conv_demo:PROJECT",
        source=f"{_BOOK}, ch. 6: convolution and pooling applied to a photograph",
        dataset="book-images (embedded): blue_jay.jpg, leopard.jpg; or any image file by --set image=PATH",
        published="images only (its \"max pool\" listing calls avg_pool)",
        summary="an edge-detection kernel, then max and average pooling, written side by side",
        unreproduced="the book shows pictures only; ours are the run's plots",
    ),
    Entry(
        name="mnist-cnn", project=f"{_HERE}.convnets:MNIST_CNN",
        source=f"{_BOOK}, ch. 6: a LeNet-style CNN on MNIST (conv 5x5x32, pool, conv 5x5x64, pool, dense 1024, "
               "dropout)",
        dataset="mnist-10k (embedded); mnist, fashion-mnist by --set data=",
        published="none reliable (the book's weights start from N(0, 1))",
        summary="the book's convnet with sane initialisation; its runs serve in the digit web app",
        goals=CLASSIFIER, serves="digits",
        reproduce=(
            Published("Bonnin ch. 6, LeNet-style CNN", "none", "test_accuracy", seeds=1,
                      note="ours on the embedded MNIST subset"),
            Published("Fashion-MNIST benchmark table: 2 conv + pooling", "test accuracy 0.916", "test_accuracy",
                      0.916, {"data": "fashion-mnist"}, seeds=1, data="fashion-mnist"),
        ),
    ),
    Entry(
        name="cifar10-cnn", project=f"{_HERE}.convnets:CIFAR10_CNN",
        source=f"{_BOOK}, ch. 6: CIFAR-10 image classification with a CNN",
        dataset="cifar10: the published Python-version archive (downloaded, sha256-checked)",
        published="an accuracy measured on the batch it trained on (not a test figure)",
        summary="ResNet-9 with batch norm and augmentation by default, the book's network as --set preset=book",
        goals=CLASSIFIER, needs=("cifar10",),
        reproduce=(Published("Bonnin ch. 6, the book's CIFAR-10 network", "an accuracy on the batch it trained on",
                             "test_accuracy", settings={"preset": "book"}, seeds=1, data="cifar10",
                             note="the book's figure is a training-set score"),),
    ),
    Entry(
        name="energy-lstm", project=f"{_HERE}.sequences:ENERGY_LSTM",
        source=f"{_BOOK}, ch. 7: forecasting electricity load with an LSTM",
        dataset="elec-load (embedded): one client's 15-minute load 2011-2014, 140,256 readings; or your own CSV",
        published="test MSE 0.001139 in its scaled units ((x - 147) / 339), on the first ~14,000 readings",
        summary="an LSTM forecaster against persistence and seasonal-naive baselines on a chronological split",
        goals={"LSTM_test_mse_scaled": "min", "LSTM_test_mae": "min", "test_mae": "min", "val_mae": "min",
               "train_mae": "min"},
        reproduce=(Published("Bonnin ch. 7, LSTM load forecast (5 readings, 5 units)", "test MSE 0.001139",
                             "LSTM_test_mse_scaled", 0.001139, {"preset": "book"}, seeds=1,
                             also=("persistence_test_mse_scaled",),
                             note="the book's test set was the end of its first 14,000 readings (2011); ours is "
                                  "the last 15% of the whole series"),),
    ),
    Entry(
        name="bach-charrnn", project=f"{_HERE}.music:BACH_CHARRNN",
        source=f"{_BOOK}, ch. 7: a character-level LSTM composing in ABC notation (trained on Bach's Goldberg "
               "Variations)",
        dataset="music21's corpus: Bach chorale melodies converted to ABC (default), or its ABC folk tunes",
        published="samples only (its corpus is no longer published)",
        summary="validation bits per character, and the share of sampled tunes that are valid ABC; MIDI to listen to",
        goals={"val_bits_per_char": "min", "sample_valid_fraction": "max", "sample_bars_in_meter_fraction": "max",
               "test_accuracy": "max", "train_accuracy": "max"},
        generates="abc",
        reproduce=(Published("Bonnin ch. 7, character LSTM writing ABC", "samples only", "val_bits_per_char",
                             seeds=1, also=("sample_valid_fraction",),
                             note="the book's Goldberg corpus is no longer published"),),
    ),
    Entry(
        name="cnn-history", project=f"{_HERE}.architectures:CNN_HISTORY",
        source=f"{_BOOK}, ch. 8: LeNet-5, AlexNet, VGG, Inception v1-v3, ResNet (and their successors)",
        dataset="none: the architectures are built and measured; published accuracies from torchvision's metadata",
        published="the papers' parameter counts (AlexNet ~60 M, VGG-16 138 M, GoogLeNet ~6.8 M, ResNet-50 25.6 M)",
        summary="parameters, multiply-adds and FLOPs measured on each built model, beside published accuracy",
        reproduce=tuple(
            Published(paper, f"{value / 1e6:g} M parameters", f"{name}_parameters", value, {"architectures": name},
                      seeds=1, note="ours counted on the built model, without auxiliary classifiers")
            for name, paper, value in (
                ("alexnet", "Krizhevsky et al. 2012", 60e6), ("vgg16", "Simonyan and Zisserman 2014", 138e6),
                ("vgg19", "Simonyan and Zisserman 2014", 144e6), ("googlenet", "Szegedy et al. 2014", 6.8e6),
                ("resnet50", "He et al. 2015", 25.6e6), ("efficientnet_b0", "Tan and Le 2019", 5.3e6),
                ("vit_b_16", "Dosovitskiy et al. 2020", 86e6), ("convnext_tiny", "Liu et al. 2022", 28e6))),
    ),
    Entry(
        name="style-transfer", project=f"{_HERE}.style_transfer:STYLE_TRANSFER",
        source=f"{_BOOK}, ch. 8: artistic style transfer with VGG-19 (Gatys, Ecker and Bethge 2015)",
        dataset="book-images (embedded): style_content.jpg, style_style.jpg and the book's style_output_sample.jpg; "
                "any pictures by --set content=PATH --set style=PATH",
        published="a picture (style_output_sample.jpg), shown beside ours",
        summary="one picture's content in another's style, on VGG-19 or the packaged EfficientNet-Lite0",
        goals={"total_loss": "min"},
        unreproduced="the book shows one picture and no figure; `mlprojects run style-transfer` draws ours beside it",
    ),
    Entry(
        name="device-placement", project=f"{_HERE}.placement:DEVICE_PLACEMENT",
        source=f"{_BOOK}, ch. 9: assigning operations to devices (example 1, log_device_placement)",
        dataset="generated: random matrices and buffers",
        published="device placement logs only",
        summary="a computation on a chosen device, where each tensor lives, and the measured cost of moving data",
        unreproduced="the book prints placement logs, which depend on the machine; ours are in the run's report",
    ),
    Entry(
        name="pi", project=f"{_HERE}.pi:PI",
        source=f"{_BOOK}, ch. 9: estimating pi by Monte Carlo on several devices and on a cluster",
        dataset="generated: uniform points in the unit square, one seeded stream per process",
        published="an estimate of pi (its digits depend on the run)",
        summary="pi from 20 million points, summed across --nproc processes or nodes with all_reduce",
        goals={"standard_error": "min", "points_per_second": "max"},
        reproduce=(Published("Bonnin ch. 9, pi by Monte Carlo", "pi ≈ 3.14", "pi_estimate", 3.141592653589793,
                             seeds=3, also=("standard_error",),
                             note="the true value is the reference; the error should stay within a few standard "
                                  "errors"),),
    ),
    Entry(
        name="text-classify", project=f"{_HERE}.text_classify:TEXT_CLASSIFY",
        source="Hugging Face notebook: fine-tuning a pretrained BERT for sequence classification",
        dataset="your labelled texts: --set train=FILE --set eval=FILE (.csv or .jsonl)",
        published="none (the notebook shows the steps, not a score)",
        summary="fine-tune any encoder on the engine; accuracy and macro-F1; saved with save_pretrained",
        goals={**CLASSIFIER, "test_macro_f1": "max"}, needs=("pretrained-model", "labelled-texts"),
        unreproduced="the notebook shows the steps, not a score, on data of its own; the data is the user's",
    ),
    Entry(
        name="token-classify", project=f"{_HERE}.token_classify:TOKEN_CLASSIFY",
        source="Hugging Face notebook: fine-tuning a pretrained BERT for token classification (NER)",
        dataset="your tagged sentences: --set train=FILE --set eval=FILE (CoNLL or .jsonl)",
        published="none (the notebook shows the steps, not a score)",
        summary="fine-tune any encoder to tag tokens; entity precision, recall and F1 (seqeval's definition)",
        goals={"test_entity_f1": "max", "test_entity_precision": "max", "test_entity_recall": "max",
               "test_accuracy": "max", "train_accuracy": "max"},
        needs=("pretrained-model", "tagged-sentences"),
        unreproduced="the notebook shows the steps, not a score, on data of its own; the data is the user's",
    ),
)
