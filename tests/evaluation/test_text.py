from panovlm.evaluation.text import clean_text


def test_special_tokens_and_role_tags_are_removed():
    assert clean_text("assistant: A red circle in front.<|im_end|>") == "A red circle in front."
    assert clean_text("<|im_start|>assistant\nA  blue\n\nstar<|endoftext|>") == "A blue star"
    assert clean_text("Answer: USER: <image>a square") == "a square"


def test_think_blocks_are_removed_and_case_and_punctuation_kept():
    assert clean_text("<think>the user asks...</think> A Red, big Circle!") == "A Red, big Circle!"
    assert clean_text("reasoning that never opened</think>Yes.") == "Yes."


def test_words_that_only_look_like_roles_are_kept():
    assert clean_text("the assistant: a robot") == "the assistant: a robot"
    assert clean_text("assistants help") == "assistants help"


def test_none_and_whitespace_become_empty():
    assert clean_text(None) == ""
    assert clean_text(" \n\t ") == ""
