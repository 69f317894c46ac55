"""The code that runs a bot inside its sandboxed process and writes exactly one result record.

Loads ``bot.py`` from the working directory, calls ``main(event, context)`` and writes a JSON
record to the result fd: ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": {...}}``.
It must not import codex32, anything outside the standard library, or heavy stdlib modules at
import time: it runs under ``python -I -S`` and every import here is paid on every run (``json``
alone costs as much as a bare interpreter start, hence the small encoder below; ``os`` costs an
eighth of one, hence ``posix``).
"""

import _signal  # not signal, which imports enum: see the module docstring
import posix  # not os: see the module docstring
import sys

TYPE_CHECKING = False  # typing itself costs every run an import; the type checker reads this
if TYPE_CHECKING:
    from collections.abc import Callable

BOT_FILE = "bot.py"
MAX_DEPTH = 100
MAX_MESSAGE_CHARS = 4000
MAX_TRACEBACK_FRAMES = 50
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"

_INFINITY = float("inf")
_ESCAPES = {code: f"\\u{code:04x}" for code in range(0x20)}
_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r",
                 ord("\t"): "\\t", ord("\b"): "\\b", ord("\f"): "\\f"})
# Written when even building an error record runs out of memory.
_OUT_OF_MEMORY = (b'{"ok": false, "error": {"type": "MemoryError", "message": "out of memory",'
                  b' "traceback": ""}}')


class CpuTimeExceeded(BaseException):
    """Raised in the bot at its soft CPU limit (SIGXCPU); ``except Exception`` won't catch it."""


def _on_cpu_limit(signum: int, frame: object) -> None:
    raise CpuTimeExceeded("CPU time limit exceeded")


class ResultTooLarge(Exception):
    """The encoded result is larger than the run's ``max_result_bytes``."""


class BotContext:
    """What ``main(event, context)`` receives besides the event. Never shows secrets in repr."""

    __slots__ = ("_llm", "_logger", "_make_llm", "bot_id", "execution_id", "secrets",
                 "workspace_id")

    def __init__(self, execution_id: str, bot_id: str, workspace_id: str,
                 secrets: dict, make_llm: "Callable[[], object] | None" = None) -> None:
        self.execution_id = execution_id
        self.bot_id = bot_id
        self.workspace_id = workspace_id
        self.secrets = dict(secrets)
        self._make_llm = make_llm  # the launcher's: gives the same context.llm every time
        self._llm: object = None
        self._logger = None

    @property
    def llm(self):
        """The workspace's models through the worker (``channel_client.LLM``), on first use:
        most runs never call, and the client costs a fraction of a start to load."""
        if self._llm is None and self._make_llm is not None:
            self._llm = self._make_llm()
        return self._llm

    @property
    def search(self):
        """Hybrid search over the workspace's documents and bots, on the channel of
        ``context.llm``: ``context.search(query, kind=None, collection=None, limit=10)``."""
        llm = self.llm
        return None if llm is None else llm.search

    @property
    def logger(self):
        """A ``logging.Logger`` named ``bot`` whose INFO and above land in the run's logs."""
        if self._logger is None:
            # Imported on first use: logging costs about a bare interpreter start.
            import logging

            configure_logging()
            # typing is not imported here (it costs every run), so _logger is not annotated.
            self._logger = logging.getLogger("bot")  # type: ignore[assignment]
        return self._logger

    def __repr__(self) -> str:
        return (f"<BotContext execution_id={self.execution_id!r} bot_id={self.bot_id!r} "
                f"workspace_id={self.workspace_id!r}>")


def configure_logging() -> None:
    """Send INFO and above to stderr (captured) unless the bot configured logging itself."""
    import logging  # on first use, as in BotContext.logger

    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
        root.setLevel(logging.INFO)


# --- JSON ------------------------------------------------------------------------------------


def _string(text: str) -> str:
    return '"' + text.translate(_ESCAPES) + '"'


class _Encoder:
    """Strict JSON (no NaN, no cycles, bounded depth and size), as ``json.dumps`` would accept."""

    __slots__ = ("active", "limit", "parts", "size")

    def __init__(self, limit: int) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit
        self.active: set[int] = set()

    def emit(self, text: str) -> None:
        self.size += len(text)
        if self.size > self.limit:
            raise ResultTooLarge(f"the result is larger than {self.limit} bytes")
        self.parts.append(text)

    def key(self, key: object) -> str:
        if isinstance(key, str):
            return _string(str.__str__(key))
        if key is True or key is False or key is None:
            return {True: '"true"', False: '"false"', None: '"null"'}[key]
        if isinstance(key, int):
            return '"' + int.__repr__(key) + '"'
        if isinstance(key, float):
            return '"' + float.__repr__(key) + '"'
        raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")

    def value(self, value: object, depth: int) -> None:
        if isinstance(value, str):
            self.emit(_string(str.__str__(value)))
        elif value is None:
            self.emit("null")
        elif value is True:
            self.emit("true")
        elif value is False:
            self.emit("false")
        elif isinstance(value, int):
            self.emit(int.__repr__(value))
        elif isinstance(value, float):
            if value != value or value in (_INFINITY, -_INFINITY):
                raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
            self.emit(float.__repr__(value))
        elif isinstance(value, (list, tuple, dict)):
            self.container(value, depth)
        else:
            raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    def container(self, value: list | tuple | dict, depth: int) -> None:
        if depth >= MAX_DEPTH:
            raise ValueError(f"the result is nested deeper than {MAX_DEPTH} levels")
        marker = id(value)
        if marker in self.active:
            raise ValueError("Circular reference detected")
        self.active.add(marker)
        if isinstance(value, dict):
            self.emit("{")
            for index, (key, item) in enumerate(value.items()):
                self.emit((", " if index else "") + self.key(key) + ": ")
                self.value(item, depth + 1)
            self.emit("}")
        else:
            self.emit("[")
            for index, item in enumerate(value):
                if index:
                    self.emit(", ")
                self.value(item, depth + 1)
            self.emit("]")
        self.active.discard(marker)


def encode_json(value: object, limit: int = 1 << 62) -> str:
    """``value`` as strict JSON text; TypeError, ValueError or ResultTooLarge when it can't be."""
    encoder = _Encoder(limit)
    encoder.value(value, 0)
    return "".join(encoder.parts)


# --- errors ----------------------------------------------------------------------------------


def _type_name(kind: type) -> str:
    module = getattr(kind, "__module__", "builtins")
    name = getattr(kind, "__qualname__", kind.__name__)
    return name if module in ("builtins", "__main__", __name__) else f"{module}.{name}"


def _message(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # a bot's __str__ may itself fail
        text = f"<unprintable {type(exc).__name__}>"
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS] + "..."


def _bot_frames(exc: BaseException) -> list[tuple[int, str]]:
    """(line, function) of the bot's own frames, oldest first; frees every frame's locals.

    Runner and standard-library frames are left out: the bot's author can act only on theirs.
    Clearing the frames releases what they hold (after a MemoryError, the memory itself).
    """
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == BOT_FILE:
            frames.append((tb.tb_lineno, code.co_name))
        try:  # noqa: SIM105 - contextlib would be one more import on every run
            tb.tb_frame.clear()
        except RuntimeError:  # the runner's own frame, still executing
            pass
        tb = tb.tb_next
    exc.__traceback__ = None
    return frames[-MAX_TRACEBACK_FRAMES:]


def _format_exception(exc: BaseException, source: list[str]) -> list[str]:
    lines = []
    frames = _bot_frames(exc)
    if frames:
        lines.append("Traceback (most recent call last):")
    for lineno, name in frames:
        lines.append(f'  File "{BOT_FILE}", line {lineno}, in {name}')
        if 0 < lineno <= len(source) and source[lineno - 1].strip():
            lines.append("    " + source[lineno - 1].strip())
    if isinstance(exc, SyntaxError) and exc.filename == BOT_FILE:
        lines.append(f'  File "{BOT_FILE}", line {exc.lineno}')
        text = (exc.text or "").rstrip("\n")
        if text.strip():
            stripped = text.lstrip()
            lines.append("    " + stripped)
            if exc.offset:
                caret = max(exc.offset - 1 - (len(text) - len(stripped)), 0)
                lines.append("    " + " " * caret + "^")
        lines.append(f"{_type_name(type(exc))}: {exc.msg}")
    else:
        message = _message(exc)
        lines.append(_type_name(type(exc)) + (f": {message}" if message else ""))
    return lines


def describe_error(exc: BaseException, source: list[str]) -> dict:
    """The error part of a record: type, message and a traceback of the bot's frames only."""
    chain = [exc]
    # Follow "raise ... from ..." and "during handling" like Python does, a few links deep.
    while len(chain) < 5:
        link = chain[-1].__cause__ or (None if chain[-1].__suppress_context__
                                       else chain[-1].__context__)
        if link is None or link in chain:
            break
        chain.append(link)
    blocks = []
    previous = None
    for item in reversed(chain):
        if previous is not None:
            blocks.append("")
            blocks.append("The above exception was the direct cause of the following exception:"
                          if item.__cause__ is previous else
                          "During handling of the above exception, another exception occurred:")
            blocks.append("")
        blocks.extend(_format_exception(item, source))
        previous = item
    return {"type": _type_name(type(exc)), "message": _message(exc),
            "traceback": "\n".join(blocks) + "\n"}


def _failure(error: dict, timed_out: bool = False) -> bytes:
    flag = '"timed_out": true, ' if timed_out else ""
    text = '{"ok": false, ' + flag + '"error": ' + encode_json(error) + "}"
    return text.encode("utf-8", "backslashreplace")


def error_record(kind: str, message: str, traceback: str = "") -> bytes:
    """A failed record made by the sandbox itself (not from a bot exception)."""
    return _failure({"type": kind, "message": message, "traceback": traceback})


def write_record(fd: int, record: bytes) -> bool:
    """Write the whole record to ``fd``; False when the reader is gone or the fd was closed."""
    view = memoryview(record)
    try:
        while view:
            view = view[posix.write(fd, view):]
    except OSError:
        return False
    return True


# --- running ---------------------------------------------------------------------------------


def _load_main(code: str):  # the bot's main: callable, otherwise unknown
    compiled = compile(code, BOT_FILE, "exec", dont_inherit=True)
    module = type(sys)("bot")
    module.__file__ = BOT_FILE
    sys.modules["bot"] = module
    exec(compiled, module.__dict__)
    main = module.__dict__.get("main")
    if not callable(main):
        raise AttributeError("bot.py must define a function main(event, context)")
    return main


def _record(event: dict, context: BotContext, max_result_bytes: int) -> bytes:
    source: list[str] = []
    try:
        with open(BOT_FILE, encoding="utf-8") as handle:
            code = handle.read()
        source = code.splitlines()
        main = _load_main(code)
        if "logging" in sys.modules:  # the bot imported logging: make its INFO lines visible
            configure_logging()
        result = main(event, context)
        text = encode_json(result, max_result_bytes)
        return ('{"ok": true, "result": ' + text + "}").encode("utf-8", "backslashreplace")
    except ResultTooLarge as exc:
        return error_record("ResultTooLarge", str(exc))
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are bot failures too
        try:
            timed_out = isinstance(exc, CpuTimeExceeded)
            error = describe_error(exc, source)
            del exc  # with the frames cleared, this frees what a MemoryError left behind
            return _failure(error, timed_out)
        except MemoryError:
            return _OUT_OF_MEMORY


def _peak_kib() -> int:
    """This process's peak resident memory (VmHWM), or 0 when /proc can't tell.

    wait4's ru_maxrss cannot give it: exec records the pre-exec memory's high-water mark,
    which for a process started by a big parent is the parent's size.
    """
    try:
        with open("/proc/self/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def run(event: dict, context: BotContext, result_fd: int, max_result_bytes: int) -> None:
    """Run the bot in the working directory, write its record to ``result_fd``, end the process.

    Never returns: the process exits right after the record (``_exit``), so a bot's stray
    threads or atexit hooks cannot hold the run open. Processes the bot forked exit silently
    if they come back here: only the original process writes a record.
    """
    pid = posix.getpid()
    _signal.signal(_signal.SIGXCPU, _on_cpu_limit)
    try:
        record = _record(event, context, max_result_bytes)
    except MemoryError:
        record = _OUT_OF_MEMORY
    # From here on a late SIGXCPU must not tear a record in half; the hard limit still kills.
    _signal.signal(_signal.SIGXCPU, _signal.SIG_IGN)
    if posix.getpid() != pid:
        posix._exit(1)
    record = b'{"peak_kib": ' + str(_peak_kib()).encode() + b", " + record[1:]
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 - contextlib would be one more import on every run
            stream.flush()
        except Exception:  # a bot may have closed or replaced them
            pass
    written = write_record(result_fd, record)
    posix._exit(0 if written else 70)
