"""One object per kind of input a project takes, owning every way that input goes in and comes out.

A project declares its kind as data (``inputs = ImageInputs(pixel_shape=(28, 28))``); reading a user's data
for training (``Project.prepare``), ``predict``, ``export``, ``serve`` and the runner ask that object and never
compare names:

- :class:`TableInputs`: rows of named columns (a CSV, a DataFrame, a form); a user's table with the settings
  of :class:`TableSettings`;
- :class:`ImageInputs`: pictures in any format, size and mode; a user's folder or records with the settings of
  :class:`ImageSettings`;
- :class:`SeriesInputs`: recent readings of one series, forecast ahead; a user's series with the settings of
  :class:`SeriesSettings`;
- :class:`TextInputs`: texts, for a fine-tuned transformer;
- :class:`NoInputs`: nothing to predict (a demonstration, a generator).

The base class, :class:`Inputs`, says what each kind answers; a new kind is one new module here (or in a
plug-in) subclassing it. The layer sits above ``data/`` and ``nlp/`` and below ``project.py``: it reaches a
finished run only through what it is handed (the run, and a ``forward`` function for the model).
"""

from mlprojects.inputs.base import Inputs, NoInputs
from mlprojects.inputs.image import ImageInputs, ImageSettings
from mlprojects.inputs.series import SeriesInputs, SeriesSettings
from mlprojects.inputs.table import TableInputs, TableSettings
from mlprojects.inputs.text import TextInputs

__all__ = ["ImageInputs", "ImageSettings", "Inputs", "NoInputs", "SeriesInputs", "SeriesSettings", "TableInputs",
           "TableSettings", "TextInputs"]
