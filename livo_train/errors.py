"""Errors a user can cause, which the CLI reports as one line (`livo train: ...`, `livo eval: ...`)."""


class TrainingError(RuntimeError):
    pass


class EvalError(ValueError):
    pass
