"""The digit web app: the predict function, the app over HTTP, and a real browser drawing on it."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")

from conftest import free_port  # noqa: E402

from mlprojects.data import images  # noqa: E402
from mlprojects.runner import run  # noqa: E402
from mlprojects.serve import app as web  # noqa: E402
from mlprojects.serve.predictor import DigitPredictor, load_or_train, newest_run  # noqa: E402

ARTIFACTS = Path(os.environ.get("MLPROJECTS_TEST_ARTIFACTS", "test-artifacts"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A real mnist-mlp run: small, but trained well enough to read clear digits."""
    root = tmp_path_factory.mktemp("runs")
    run("mnist-mlp", {"epochs": 3, "widths": "128,128"}, out=root / "mnist-mlp" / "small", progress=False)
    return root


@pytest.fixture(scope="module")
def predictor(trained) -> DigitPredictor:
    return DigitPredictor(trained / "mnist-mlp" / "small")


def _test_digits(count=50):
    splits = images.load("mnist-10k")
    return splits.test_images[:count], splits.test_labels[:count]


def _on_canvas(digit: np.ndarray, size=800, height=400, top=150, left=300) -> np.ndarray:
    """An MNIST digit drawn as black ink on a transparent RGBA canvas, ``height`` px tall."""
    ink = np.asarray(Image.fromarray(digit).resize((height, height), Image.BILINEAR))
    canvas = np.zeros((size, size, 4), np.uint8)
    canvas[top:top + height, left:left + height, 3] = ink
    return canvas


def test_predict_function_reads_digits_drawn_on_a_big_canvas(predictor):
    digits, labels = _test_digits()
    predict = web.make_predict(predictor)
    correct = 0
    for digit, label in zip(digits, labels):
        top, view, message = predict({"background": None, "layers": [_on_canvas(digit)], "composite": None})
        probabilities = list(top.values())
        assert len(top) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert 0 < sum(probabilities) <= 1 + 1e-6 and view.shape == (224, 224)
        correct += int(max(top, key=top.get) == str(label))
    direct = int((predictor.forward(digits).argmax(1).numpy() == labels).sum())  # the same digits at 28x28
    assert abs(correct - direct) <= 3, (correct, direct)


def test_empty_canvas_is_a_message_and_bad_input_a_gradio_error(predictor, tmp_path):
    predict = web.make_predict(predictor)
    assert predict(None) == (None, None, web.EMPTY_MESSAGE)
    empty = {"background": None, "layers": [np.zeros((800, 800, 4), np.uint8)], "composite": None}
    assert predict(empty)[2] == web.EMPTY_MESSAGE
    (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(gr.Error, match="not an image"):
        predict(str(tmp_path / "x.png"))


def test_model_choice_newest_completed_run_then_training(tmp_path, trained, monkeypatch):
    assert newest_run(trained) == trained / "mnist-mlp" / "small"
    assert newest_run(tmp_path) is None
    with pytest.raises(Exception, match="is a kmeans run|not a run directory"):
        DigitPredictor(tmp_path)
    # no run at all: trains mnist-mlp first (a short one, through the real runner)
    calls = []
    real_run = run

    def short_run(name, overrides, **kw):
        calls.append(name)
        return real_run(name, {"epochs": 1, "widths": "32"}, progress=False, **kw)

    monkeypatch.setattr("mlprojects.runner.run", short_run)
    fresh = load_or_train(root=tmp_path / "runs")
    assert calls == ["mnist-mlp"] and fresh.project_name == "mnist-mlp"


def test_app_builds_without_launching(predictor):
    app = web.build_app(predictor)
    assert isinstance(app, gr.Blocks)
    names = {dep.get("api_name") for dep in app.config["dependencies"]}
    assert {"predict", "predict_drawing"} <= names



@pytest.fixture(scope="module")
def server(predictor):
    port = free_port()
    app = web.serve(predictor, "127.0.0.1", port, block=False)
    yield f"http://127.0.0.1:{port}/"
    app.close()


def test_over_http_with_gradio_client(server, tmp_path):
    from gradio_client import Client, handle_file

    digits, labels = _test_digits(5)
    client = Client(server, verbose=False)
    hits = 0
    for i, (digit, label) in enumerate(zip(digits, labels)):
        Image.fromarray(255 - np.kron(digit, np.ones((8, 8), np.uint8))).save(tmp_path / f"{i}.png")  # dark on white
        top, view, message = client.predict(handle_file(str(tmp_path / f"{i}.png")), api_name="/predict")
        assert len(top["confidences"]) == 3 and top["label"] in message
        hits += int(top["label"] == str(label))
    assert hits >= 4
    (tmp_path / "bad.png").write_bytes(b"definitely not a png")
    with pytest.raises(Exception, match="not an image|Error"):
        client.predict(handle_file(str(tmp_path / "bad.png")), api_name="/predict")
    # the server is still up after the error
    assert client.predict(handle_file(str(tmp_path / "0.png")), api_name="/predict")[0]["label"]


@pytest.mark.slow
def test_sigterm_stops_the_app_and_empties_its_cache(digits_run, tmp_path):
    """`serve digits` as a service manager stops it: SIGTERM closes the server (exit 0, as Ctrl-C does) and the files
    Gradio kept for the page (the upload, the picture of what the model saw) go with it. The upload, a transparent
    picture, reaches the predictor as it was sent."""
    import time

    from conftest import Forked
    from gradio_client import Client, handle_file

    cache, port = tmp_path / "cache", free_port()
    server = Forked(["serve", "digits", "--model", str(digits_run), "--port", str(port)],
                    env={"GRADIO_TEMP_DIR": str(cache)})
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False)
                break
            except Exception:
                assert server.poll() is None and time.monotonic() < deadline, server.stderr.read()
                time.sleep(0.2)
        digits, labels = _test_digits(1)
        Image.fromarray(_on_canvas(digits[0])).save(tmp_path / "0.png")  # black ink on a transparent canvas
        top, view, _ = client.predict(handle_file(str(tmp_path / "0.png")), api_name="/predict")
        assert top["label"] == str(labels[0])  # the upload's own alpha carried the strokes (not converted to RGB)
        served = [path for path in cache.rglob("*") if path.is_file()]
        assert Path(view["path"]) in served and len(served) >= 2  # the upload too
    finally:
        server.terminate()
        server.wait(60)
    assert server.returncode == 0, server.stderr.read()
    assert not [path for path in served if path.exists()]


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@contextlib.contextmanager
def app_page(url: str):
    """A page of the app in Debian's Chromium, driven by Playwright (no browser download)."""
    playwright = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(url, wait_until="networkidle")
            yield page
        finally:
            browser.close()


def wait_for_prediction(page, timeout_ms: int = 30_000) -> str:
    """Wait until the app's message holds a prediction (it says its probability); return the message."""
    page.wait_for_function(
        "() => { const m = document.querySelector('#message'); return m && /probability/.test(m.innerText); }",
        timeout=timeout_ms)
    return page.locator("#message").inner_text()


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_a_real_browser_draws_a_digit(server):
    with app_page(server) as page:
        canvas = page.locator("#sketchpad canvas").first
        canvas.wait_for(state="visible", timeout=30_000)
        # the app picks the brush once Gradio has mounted (SELECT_BRUSH), and the page may still be laying out: a
        # stroke drawn before either is done draws nothing, so wait for the brush, then let Playwright's own checks
        # (trial=True: visible, stable for two frames, receiving the pointer) say the canvas can take the mouse
        page.locator('#sketchpad button[aria-label="Brush"].highlight').wait_for(timeout=30_000)
        canvas.hover(trial=True, timeout=30_000)
        box = canvas.bounding_box()
        x, y, w, h = box["x"], box["y"], box["width"], box["height"]
        # a "1": one vertical stroke down the middle, drawn with the mouse (the pad joins the points with straight
        # lines, so 4 moves draw the same stroke as 20; each costs the headless browser about 0.5 s)
        page.mouse.move(x + w * 0.5, y + h * 0.2)
        page.mouse.down()
        for step in range(1, 5):
            page.mouse.move(x + w * 0.5, y + h * (0.2 + 0.6 * step / 4))
        page.mouse.up()
        prediction = page.locator("#prediction")
        try:
            # the stroke landed: the pad's Undo button comes alive; then the prediction arrives
            page.locator('#sketchpad button[aria-label="Undo"]:enabled').wait_for(timeout=30_000)
            wait_for_prediction(page)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "digits-app-failed.png"), full_page=True)
            raise
        text = page.locator("#message").inner_text()
        page.screenshot(path=str(ARTIFACTS / "digits-app.png"), full_page=True)
        assert "probability" in text and prediction.is_visible()
        assert "**1**" in text or text.strip().startswith("1")


# --- the Text tab ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sentiment_model(tmp_path_factory) -> Path:
    pytest.importorskip("transformers")
    from conftest import make_tiny_bert, make_tiny_head

    base = make_tiny_bert(tmp_path_factory.mktemp("bert"))
    labels = {0: "neg", 1: "pos"}
    return make_tiny_head(base, tmp_path_factory.mktemp("sentiment"), "AutoModelForSequenceClassification",
                          id2label=labels, label2id={v: k for k, v in labels.items()})


def test_text_tab_function_gives_json_and_a_table(sentiment_model):
    from mlprojects.nlp.tasks import run_task
    from mlprojects.serve.text import EMPTY_MESSAGE, run_text

    results, table = run_text("sentiment", str(sentiment_model), "the film was good\n\n a dog | ran\n")
    expected = run_task("sentiment", str(sentiment_model), ["the film was good", " a dog | ran"])
    assert [r["result"]["label"] for r in results] == [e["label"] for e in expected]
    assert table.splitlines()[2] == f"| the film was good | {expected[0]['label']} ({expected[0]['score']:.1%}) |"
    assert "a dog \\| ran" in table  # a pipe in the input does not break the table
    assert run_text("sentiment", str(sentiment_model), "  \n") == ([], EMPTY_MESSAGE)
    with pytest.raises(gr.Error, match="needs --labels"):
        run_text("zero-shot-classification", str(sentiment_model), "a dog")
    with pytest.raises(gr.Error, match="Choose a model"):
        run_text("sentiment", " ", "a dog")


def test_text_tab_over_http(server, sentiment_model):
    from gradio_client import Client

    client = Client(server, verbose=False)
    results, table = client.predict("sentiment", str(sentiment_model), "the film was good\nbad", "", "",
                                    api_name="/run_text")
    assert [r["input"] for r in results] == ["the film was good", "bad"]
    assert all(r["result"]["label"] in ("neg", "pos") for r in results) and "| bad |" in table
    with pytest.raises(Exception, match="not a local folder|cannot load|Error"):
        client.predict("sentiment", "nobody/no-such-model", "x", "", "", api_name="/run_text")


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_a_real_browser_runs_a_text_task(server, sentiment_model):
    from mlprojects.nlp.tasks import run_task

    expected = run_task("sentiment", str(sentiment_model), ["the film was very good"])[0]["label"]
    with app_page(server) as page:
        page.get_by_role("tab", name="Text").click()
        page.locator("#text-model textarea, #text-model input").first.fill(str(sentiment_model))
        page.locator("#text-inputs textarea").fill("the film was very good")
        page.locator("#text-run").click()
        page.wait_for_function(
            "() => { const t = document.querySelector('#text-table'); return t && /%/.test(t.innerText); }",
            timeout=30_000)
        table = page.locator("#text-table").inner_text()
        page.screenshot(path=str(ARTIFACTS / "text-app.png"), full_page=True)
        assert "the film was very good" in table and f"{expected} (" in table
