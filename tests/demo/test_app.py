"""The page's handlers, called as Gradio calls them (no browser): examples, clicks, uploads, answers."""

import numpy as np
import pytest
from tests.demo.conftest import require

gr = require("gradio")

from panovlm.demo.app import DemoHandlers, build_app, find_examples  # noqa: E402
from panovlm.demo.session import DemoSession  # noqa: E402


@pytest.fixture(scope="module")
def handlers(demo_model_dir, real_panoramas):
    examples = find_examples([real_panoramas[0].parent])
    return DemoHandlers(DemoSession.from_folder(demo_model_dir), examples)


def test_an_example_opens_with_views_pca_and_a_look(handlers):
    name = sorted(handlers.examples)[1]
    erp, shown, look, views, pca, status = handlers.open_example(name)
    assert erp.shape == (256, 512, 3) and shown.shape == erp.shape and look.ndim == 3
    assert len(views) == len(handlers.session.plan) and pca.ndim == 3
    assert status.startswith(f"Loaded {handlers.examples[name].name}")


def test_a_click_turns_the_look_towards_the_clicked_pixel(handlers):
    erp = handlers.open_example(sorted(handlers.examples)[1])[0]
    before = handlers.look(erp, 0, 0, 90)
    yaw, pitch, after = handlers.click(erp, 90, gr.SelectData(None, {"index": [384, 64], "value": None}))
    assert (yaw, pitch) == (90, 45)  # column 384 of 512 is yaw +90, row 64 of 256 is pitch +45
    assert after.shape == before.shape and not np.array_equal(after, before)
    np.testing.assert_array_equal(after, handlers.look(erp, 90, 45, 90))


def test_a_broken_upload_is_reported_and_the_state_is_kept(handlers, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = handlers.open_panorama(str(broken))
    assert all(item is not None and isinstance(item, dict) for item in out[:5])  # gr.skip(): nothing replaced
    assert "Cannot use this image" in out[5] and "broken.png" in out[5]


def test_asking_streams_into_the_chat_and_ends_with_the_attention(handlers):
    erp = handlers.open_example(sorted(handlers.examples)[1])[0]
    updates = list(handlers.ask(erp, "What is to your right?", [], 6, 0.0))
    history, overlay, shares, status = updates[-1]
    assert status == "Answered." and history[0] == {"role": "user", "content": "What is to your right?"}
    assert history[1]["role"] == "assistant" and history[1]["content"]
    assert overlay.shape == erp.shape and "| view | share |" in shares
    streamed = [u[0][1]["content"] for u in updates[:-1]]
    assert streamed and all(history[1]["content"].startswith(s.strip()) for s in streamed)


def test_asking_without_a_panorama_or_question_says_so(handlers):
    assert list(handlers.ask(None, "hi", [], 4, 0.0))[-1][3] == "**Load a panorama first.**"
    erp = handlers.open_example(sorted(handlers.examples)[1])[0]
    assert list(handlers.ask(erp, " ", [], 4, 0.0))[-1][3] == "**Type a question first.**"


def test_the_page_builds(handlers):
    assert isinstance(build_app(handlers.session, handlers.examples), gr.Blocks)
