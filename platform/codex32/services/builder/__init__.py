"""The AI bot builder: describe, clarify, generate, validate, repair, accept (issue 12).

- :mod:`.spec`: the specification's JSON Schema and its check;
- :mod:`.report`: validation steps, findings, repair rounds (the modules' shared vocabulary);
- conversations, clarification, generation, validation and the repair loop in their own
  modules, each calling models only through :mod:`codex32.services.gateway` (purpose
  ``builder``).
"""
