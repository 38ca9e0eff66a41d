"""The Gradio page of ``panovlm demo``: look around a panorama, ask, and see where the model looked.

Layout: the panorama (click it to look there) and the look-around view with its yaw / pitch / fov
sliders; the chat with its sampling settings; below, the views the model receives, the PCA painting
of the encoder's tokens, and the attention overlay of the last answer. Every handler catches the
errors a user can cause (a broken upload, an empty question) and shows them in the page's status
line; the app keeps serving. All model work is in :class:`~panovlm.demo.session.DemoSession`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from panovlm.data.io import ImageLoadError
from panovlm.demo.look import Look, look_from_click, render_look, view_label
from panovlm.demo.session import Answer, DemoSession, display_erp
from panovlm.evaluation.generation import GenerationSettings

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")


def find_examples(folders: list[Path]) -> dict[str, Path]:
    """``{name: path}`` of the panoramas in ``folders`` (sorted, first name wins)."""
    found: dict[str, Path] = {}
    for folder in folders:
        if not folder.is_dir():
            raise FileNotFoundError(f"examples folder not found: {folder}")
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                found.setdefault(path.stem, path)
    return found


def _status(text: str) -> str:
    return f"**{text}**"


def _shares_markdown(answer: Answer, labels: list[str]) -> str:
    if answer.attention is None:
        return "No answer tokens, so no attention to show."
    order = np.argsort(-answer.attention.shares)
    rows = "\n".join(f"| {labels[i]} | {answer.attention.shares[i]:.3f} |" for i in order)
    return (f"Attention of the answer's tokens on the vision tokens: {answer.attention.vision_share:.1%} of it "
            f"(the rest went to the text). Per view:\n\n| view | share |\n|---|---|\n{rows}")


class DemoHandlers:
    """The page's event handlers over one session (plain methods, so they are testable without a browser)."""

    def __init__(self, session: DemoSession, examples: dict[str, Path]) -> None:
        self.session = session
        self.examples = examples

    def open_panorama(self, path: str | Path | None) -> tuple:
        """(erp state, panorama, look view, model views, PCA painting, status) for a new panorama."""
        if path is None:
            return (gr.skip(),) * 5 + (_status("No file received."),)
        try:
            erp = self.session.load_panorama(path)
        except ImageLoadError as err:
            logger.warning("refused upload: %s", err)
            return (gr.skip(),) * 5 + (_status(f"Cannot use this image: {err}"),)
        views = self.session.model_views(erp)
        pca = self.session.pca_painting(erp)
        name = Path(path).name
        return (erp, display_erp(erp), render_look(erp, Look()), views, pca,
                f"Loaded {name} ({erp.shape[1]}x{erp.shape[0]}). Click the panorama to look around.")

    def open_example(self, name: str | None) -> tuple:
        if name not in self.examples:
            return (gr.skip(),) * 5 + (_status(f"Unknown example {name!r}."),)
        return self.open_panorama(self.examples[name])

    def look(self, erp: np.ndarray | None, yaw: float, pitch: float, fov: float) -> Any:
        if erp is None:
            return gr.skip()
        return render_look(erp, Look(float(yaw), float(pitch), float(fov)))

    def click(self, erp: np.ndarray | None, fov: float, event: gr.SelectData) -> tuple:
        """(yaw, pitch, look view) for a click at ``event.index`` = (x, y) on the displayed panorama."""
        if erp is None:
            return gr.skip(), gr.skip(), gr.skip()
        shown = display_erp(erp)
        x, y = event.index
        look = look_from_click(float(x), float(y), shown.shape[1], shown.shape[0], float(fov))
        # Snapped to the sliders' 1-degree step, so the picture is the one the sliders describe.
        yaw, pitch = round(look.yaw_deg), round(look.pitch_deg)
        return yaw, pitch, render_look(erp, Look(yaw, pitch, look.fov_deg))

    def ask(self, erp: np.ndarray | None, question: str, history: list[dict] | None, max_new_tokens: float,
            temperature: float) -> Iterator[tuple]:
        """Stream (chat history, overlay, attention table, status) while the answer is generated."""
        history = list(history or [])
        if erp is None:
            yield history, gr.skip(), gr.skip(), _status("Load a panorama first.")
            return
        if not (question or "").strip():
            yield history, gr.skip(), gr.skip(), _status("Type a question first.")
            return
        settings = GenerationSettings(max_new_tokens=int(max_new_tokens), temperature=float(temperature))
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": ""}]
        labels = [view_label(view) for view in self.session.plan.views]  # no need to render the views again
        for piece in self.session.answer(erp, question, settings):
            if isinstance(piece, Answer):
                history[-1] = {"role": "assistant", "content": piece.text}
                yield history, piece.overlay, _shares_markdown(piece, labels), "Answered."
                return
            history[-1] = {"role": "assistant", "content": history[-1]["content"] + piece}
            yield history, gr.skip(), gr.skip(), "Answering..."


def build_app(session: DemoSession, examples: dict[str, Path]) -> gr.Blocks:
    """The page, wired to ``session``; ``examples`` are offered by name."""
    handlers = DemoHandlers(session, examples)
    with gr.Blocks(title="PanoVLM demo", analytics_enabled=False) as app:
        gr.Markdown("# PanoVLM demo\nLook around a 360-degree panorama, ask about it, and see which views the "
                    "answer attended to.")
        erp = gr.State(None)
        status = gr.Markdown("Pick an example or upload an equirectangular (2:1) panorama.", elem_id="status")
        with gr.Row():
            example = gr.Radio(sorted(examples), label="Examples", elem_id="examples")
            upload = gr.UploadButton("Upload a panorama", file_types=["image"], elem_id="upload")
        with gr.Row():
            pano = gr.Image(label="Panorama (click to look there)", interactive=False, elem_id="panorama")
            with gr.Column():
                look = gr.Image(label="Look around", interactive=False, elem_id="look")
                yaw = gr.Slider(-180, 180, value=0, step=1, label="yaw (degrees, + = right)", elem_id="yaw")
                pitch = gr.Slider(-90, 90, value=0, step=1, label="pitch (degrees, + = up)", elem_id="pitch")
                fov = gr.Slider(30, 120, value=90, step=1, label="field of view (degrees)", elem_id="fov")
        with gr.Row():
            with gr.Column():
                chat = gr.Chatbot(label="Chat", elem_id="chat", height=320)
                question = gr.Textbox(label="Question", placeholder="What is to your left?", elem_id="question")
                ask = gr.Button("Ask", variant="primary", elem_id="ask")
                with gr.Accordion("Sampling", open=False):
                    max_new = gr.Slider(1, 128, value=32, step=1, label="max new tokens")
                    temperature = gr.Slider(0.0, 2.0, value=0.0, step=0.05, label="temperature (0 = greedy)")
            with gr.Column():
                overlay = gr.Image(label="Where the model looked (last answer)", interactive=False,
                                   elem_id="overlay")
                shares = gr.Markdown(elem_id="shares")
        views = gr.Gallery(label="Views the model receives", columns=5, elem_id="views")
        pca = gr.Image(label="PCA of the vision encoder's tokens, painted on the panorama", interactive=False)

        opened = [erp, pano, look, views, pca, status]
        example.change(handlers.open_example, example, opened)
        upload.upload(handlers.open_panorama, upload, opened)
        for slider in (yaw, pitch, fov):
            slider.release(handlers.look, [erp, yaw, pitch, fov], look)
        pano.select(handlers.click, [erp, fov], [yaw, pitch, look])
        answer_outputs = [chat, overlay, shares, status]
        ask.click(handlers.ask, [erp, question, chat, max_new, temperature], answer_outputs)
        question.submit(handlers.ask, [erp, question, chat, max_new, temperature], answer_outputs)
    return app
