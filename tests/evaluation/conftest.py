"""A duck-typed model and processor with the generation contract of PanoLLaVa, for fast tests.

The processor gives each prompt an id; the model "answers" with that id, plus 1000 when it was
given pixel_values, so tests can tell which sample and which mode produced an answer.
"""

from __future__ import annotations

import pytest
import torch

from panovlm.data.datasets import Sample


class FakeProcessor:
    vision_token_id = 7

    def __init__(self) -> None:
        self.prompts: dict[str, int] = {}
        self.calls: list[dict] = []

    def __call__(self, text, images=None, return_tensors="pt", padding=True):
        ids = [self.prompts.setdefault(repr(t), 10 + len(self.prompts)) for t in text]
        self.calls.append({"text": text, "images": images})
        batch = {"input_ids": torch.tensor([[i, i] for i in ids]), "attention_mask": torch.ones(len(ids), 2)}
        if images is not None:
            batch["pixel_values"] = torch.zeros(len(ids), 2, 3, 4, 4)
        return batch

    def batch_decode(self, ids, skip_special_tokens=True):
        return [f"answer {int(row[0])}<|im_end|>" for row in ids]


class FakeModel(torch.nn.Module):
    def __init__(self, fail_on_call: int | None = None) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.fail_on_call = fail_on_call
        self.calls: list[dict] = []

    @property
    def dtype(self):
        return torch.float32

    def generate(self, input_ids, attention_mask, pixel_values=None, **kwargs):
        self.calls.append({"pixel_values": pixel_values, **kwargs})
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise KeyboardInterrupt("simulated interruption")
        new = input_ids[:, :1] + (1000 if pixel_values is not None else 0)
        return torch.cat([input_ids, new], dim=1)


def make_samples(n: int, image="pano.png") -> list[Sample]:
    return [
        Sample(image_path=image, sample_id=f"test:{i}", references=[f"reference {i}"],
               messages=[{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": f"reference {i}"}],
               meta={"url": f"images/{i}.png", "query": f"question {i}"})
        for i in range(n)
    ]


@pytest.fixture()
def fakes():
    """FakeModel, FakeProcessor and make_samples (conftest modules are not importable by tests)."""
    from types import SimpleNamespace

    return SimpleNamespace(Model=FakeModel, Processor=FakeProcessor, samples=make_samples)
