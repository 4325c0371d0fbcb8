"""``mlprojects serve RUN``: a page and an API for any finished run, tested by function, over HTTP with
gradio_client (with --auth), and in Chromium for a tabular and an image run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gradio")

from conftest import Forked, free_port, run_subprocess  # noqa: E402
from PIL import Image  # noqa: E402
from test_rest import Server  # noqa: E402
from test_serve import CHROMIUM, app_page, wait_for_prediction  # noqa: E402

from mlprojects import rundir  # noqa: E402
from mlprojects.serve import run_app  # noqa: E402

AUTH = ("ada", "difference-engine")


@pytest.fixture(scope="module")
def wine(wine_run) -> rundir.Run:
    return rundir.load(wine_run)


@pytest.fixture(scope="module")
def digits(digits_run) -> rundir.Run:
    return rundir.load(digits_run)


@pytest.fixture(scope="module")
def wine_server(wine):
    with Server(run_app.app({"wine": wine}, AUTH)) as url:  # the app of `mlprojects serve`: page and REST
        yield f"{url}/"


@pytest.fixture(scope="module")
def digits_server(digits):
    with Server(run_app.app({"digits": digits})) as url:
        yield f"{url}/"


def digit_file(folder: Path, index: int = 0) -> tuple[Path, str]:
    from mlprojects.data import images

    split = images.load("mnist-10k")
    path = folder / f"digit{index}.png"
    Image.fromarray(255 - np.kron(split.test_images[index], np.ones((6, 6), np.uint8))).save(path)
    return path, str(split.test_labels[index])


def test_each_kind_of_project_gets_its_page(wine, digits):
    for finished, names in ((wine, {"predict", "predict_csv"}), (digits, {"predict"})):
        app = run_app.build(finished)
        assert names <= {dep.get("api_name") for dep in app.config["dependencies"]}


def test_the_form_endpoint_over_http_needs_the_password_and_matches_predict(wine, wine_server, tmp_path):
    from gradio_client import Client, handle_file

    from mlprojects.predict import predict

    raw = wine.project.prepare(wine.cfg).raw_test
    row = raw[wine.preparation.inputs].iloc[0].tolist()
    with pytest.raises(Exception, match="credentials were not provided"):
        Client(wine_server, verbose=False)  # no password: no page, no API
    client = Client(wine_server, verbose=False, auth=AUTH)
    probabilities, message, full = client.predict(*row, api_name="/predict")
    expected = predict(wine, raw.iloc[:1]).iloc[0]
    assert probabilities["label"] == expected["predicted_Wine"] and expected["predicted_Wine"] in message
    assert full["probability"] == pytest.approx(expected["probability"])

    raw.to_csv(tmp_path / "rows.csv", index=False)
    table, download = client.predict(handle_file(str(tmp_path / "rows.csv")), api_name="/predict_csv")
    assert len(table["data"]) == len(raw) and Path(download).read_text().startswith("Alcohol,")
    (tmp_path / "bad.csv").write_text("Alcohol,Ash\n1,2\n")
    with pytest.raises(Exception, match="no column"):
        client.predict(handle_file(str(tmp_path / "bad.csv")), api_name="/predict_csv")
    (tmp_path / "big.csv").write_bytes(b"Alcohol\n" + b"1\n" * (6 * 1024 * 1024))  # 12 MB: over the limit
    with pytest.raises(Exception, match="exceeds the maximum file size of 10485760 bytes"):
        client.predict(handle_file(str(tmp_path / "big.csv")), api_name="/predict_csv")
    assert client.predict(*row, api_name="/predict")[0]["label"] == expected["predicted_Wine"]  # still serving


def test_the_page_keeps_the_files_it_is_sent_and_hands_back_for_a_while_only(wine, tmp_path, monkeypatch):
    """Gradio's cache of a page (uploads, and the CSV of predictions handed back, written there directly) is emptied
    on the page's schedule (CACHE_LIFETIME: after an hour; after a second here) and when the server stops: a page
    that answers all day does not fill the disk. (Gradio's gr.File leaves one empty file an upload, which its
    schedule does not see: counted apart.)"""
    import tempfile
    import time

    from gradio_client import Client, handle_file

    cache, temporary = tmp_path / "cache", tmp_path / "tmp"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))  # where a copy of ours would have gone
    raw = wine.project.prepare(wine.cfg).raw_test
    raw.to_csv(tmp_path / "rows.csv", index=False)

    def kept() -> list[Path]:
        return [path for path in cache.rglob("*") if path.is_file() and path.stat().st_size]

    def predictions(url: str) -> Path:
        client = Client(url, verbose=False, download_files=False)
        _, download = client.predict(handle_file(str(tmp_path / "rows.csv")), api_name="/predict_csv")
        return Path(download["path"])

    with Server(run_app.app({"wine": wine})) as url:
        answered = [predictions(f"{url}/") for _ in range(2)]
        assert all(path.parent.parent == cache and path.read_text().startswith("Alcohol,") for path in answered)
        assert sorted(kept()) == sorted([*answered, *cache.glob("*/rows.csv")])  # no other copy: and one upload
    assert not kept() and not list(temporary.iterdir())  # all gone when the server stopped
    assert len([path for path in cache.rglob("*") if path.is_file()]) <= len(answered)  # Gradio's empty ones

    monkeypatch.setattr(run_app, "CACHE_LIFETIME", (1, 1))
    with Server(run_app.app({"wine": wine})) as url:
        predictions(f"{url}/")
        deadline = time.monotonic() + 30
        while kept():  # gone a second or two after it was made, while the server goes on
            assert time.monotonic() < deadline, kept()
            time.sleep(0.2)


def test_an_image_run_over_http(digits_server, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(digits_server, verbose=False)
    hits = 0
    for index in range(5):
        path, label = digit_file(tmp_path, index)
        probabilities, message, _ = client.predict(handle_file(str(path)), api_name="/predict")
        assert len(probabilities["confidences"]) == 3 and probabilities["label"] in message
        hits += probabilities["label"] == label
    assert hits >= 4
    (tmp_path / "fake.png").write_bytes(b"not an image")
    with pytest.raises(Exception, match="not an image"):
        client.predict(handle_file(str(tmp_path / "fake.png")), api_name="/predict")


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_a_real_browser_fills_the_form(wine_server):
    from playwright.sync_api import sync_playwright  # noqa: F401  (app_page skips without it)

    user, password = AUTH
    with app_page(wine_server) as page:
        page.locator("input[type=text]").first.fill(user)
        page.locator("input[type=password]").fill(password)
        page.keyboard.press("Enter")
        field = page.locator("#field-Proline input").first
        field.wait_for(state="visible", timeout=30_000)
        field.fill("1500")
        page.locator("#predict").click()
        assert "cultivar" in wait_for_prediction(page)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_a_real_browser_uploads_an_image(digits_server, tmp_path):
    path, label = digit_file(tmp_path, 0)
    with app_page(digits_server) as page:
        page.locator("#image input[type=file]").set_input_files(str(path))
        assert wait_for_prediction(page).startswith(label)


@pytest.mark.slow
def test_listening_beyond_this_machine_without_a_password_warns(wine, tmp_path):
    port = free_port()
    process = Forked(["serve", str(wine.path), "--host", "0.0.0.0", "--port", str(port)], env={"MLPROJECTS_AUTH": ""})
    try:
        warning = process.stderr.readline().strip()
        served = process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=60)
    assert warning == ("warning: listening on 0.0.0.0 without --auth: anyone who reaches this machine can use the "
                       "model")
    assert served.startswith(f"serving wine from {wine.path}") and "uploads up to 10mb" in served
    bad = run_subprocess("serve", str(wine.path), "--auth", "nopassword", timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip() == "error: --auth: write USER:PASSWORD (both non-empty)"
