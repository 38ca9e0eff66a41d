"""``panovlm demo``: the interactive 360-degree demo (look around, ask, see where the model looked).

``look`` and ``attention`` need only the core install; ``session`` the model; ``app`` the ``demo`` extra (Gradio).
"""
