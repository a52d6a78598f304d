"""Attacks on the grader, written as a student who has read it would: each is a few lines added to
the untouched handout 05 (every piece still "not implemented"). Each must grade 0 with its reason,
write nothing outside the grading folder, leave the repository as it was, send nothing to a
listener on 127.0.0.1, leave no process behind, and the grader must answer within its limit."""
import hashlib
import os
import socket
import threading
import time
import uuid
from pathlib import Path

import nbformat
import pytest

from helpers.teaching.grade import grade_notebook
from helpers.teaching.handout import piece_tag
from helpers.teaching.student_repo import write_student_repo
from helpers.teaching.sandbox import Limits
from sandboxing import sandbox_here  # noqa: F401  (an autouse fixture: skip or fail where no sandbox)

REPO = Path(__file__).resolve().parents[1]
TIME_LIMIT = 30
# name: (code added to the first graded cell, words every item's reason contains). The code is
# formatted with {token} (a mark for files and processes), {port} (the listener), {repo}, {home}.
ATTACKS = {
    "forged_answers_at_exit": ('''
import atexit, json, os
def forge():
    for q in ("lora.formula", "lora.structure", "lora.fresh", "lora.library", "lora.merge", "lora.learns"):
        with open(f"/grading/answers/{{q}}.json", "w") as f:
            json.dump({{"values": [1, 2, 3], "passed": True, "losses": [9.0] + [0.1] * 24}}, f)
    open("/grading/results.jsonl", "w").write('{{"item": "lora.library", "passed": true}}')
atexit.register(forge)
''', "not implemented"),
    "forged_answers_late_thread": ('''
import json, threading, time
def forge():
    time.sleep(3)
    for q in ("lora.formula", "lora.structure"):
        open(f"/grading/answers/{{q}}.json", "w").write(json.dumps({{"values": [0, 0, 0], "cases": []}}))
threading.Thread(target=forge).start()
''', ""),   # what it forges may be read, and earns nothing
    "exit_before_answering": ('''
import os
os._exit(0)
''', "no answer: the grading process ended before answering"),
    "patched_torch_comparisons": ('''
import torch
torch.equal = lambda *a, **k: True
torch.allclose = lambda *a, **k: True
torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)
torch.Tensor.__lt__ = lambda self, other: torch.ones((), dtype=torch.bool)
''', "not implemented"),
    "patched_checker": ('''
import sys
runner = sys.modules["__main__"]
runner.one_line = lambda error: ""
runner.QUESTIONS = {{k: (lambda ns, inputs, q: ({{"values": [1, 1, 1], "passed": True}}, {{}})) for k in runner.QUESTIONS}}
try:
    import helpers.teaching.checks as checks
    checks.expect = lambda *a: None
except ImportError:
    pass
''', ""),
    "solution_imported": ('''
from helpers.methods.lora import LoRALinear, add_lora, merge_lora
''', "import of helpers.methods.lora is not allowed in graded cells"),
    "solution_read_from_disk": ('''
source = open("{repo}/helpers/methods/lora.py").read()
exec(source)
''', "FileNotFoundError"),
    "library_shortcut": ('''
from peft import LoraConfig, get_peft_model
def add_lora(model, rank, alpha, dropout=0.0):
    return get_peft_model(model, LoraConfig(r=rank, lora_alpha=alpha, target_modules=["q", "v"]))
''', "import of peft is not allowed in graded cells"),
    "library_files_read": ('''
import glob, sys
found = [p for p in sys.path for p in glob.glob(p + "/peft/tuners/lora/layer.py")]
exec(open(found[0]).read())
''', "IndexError"),
    "writes_outside": ('''
for path in ("{repo}/attack-{token}", "{home}/attack-{token}", "/tmp/attack-{token}", "/var/tmp/attack-{token}",
             "{repo}/helpers/teaching/sandbox.py", "/grader/answer.py"):
    try:
        open(path, "a").write("# {token}")
    except OSError:
        pass
raise NotImplementedError()
''', "not implemented"),
    "network": ('''
import socket
for host in ("127.0.0.1", "localhost"):
    try:
        socket.create_connection((host, {port}), timeout=2).sendall(b"{token}")
    except OSError:
        pass
raise NotImplementedError()
''', "not implemented"),
    "process_left_behind": ('''
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)  # {token}"], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if __import__("os").fork() == 0:
    __import__("os").setsid()
    __import__("time").sleep(600)
raise NotImplementedError()
''', "not implemented"),
    "memory_hog": ('''
hog = [bytearray(256 << 20) for _ in range(64)]   # 16 GiB, a page at a time
''', "MemoryError"),
    "fork_storm": ('''
import os, time
for _ in range(100000):
    try:
        if os.fork() == 0:
            time.sleep(600)
            os._exit(0)
    except OSError:
        break
raise NotImplementedError()
''', "not implemented"),
    "endless_loop": ('''
while True:
    pass
''', f"stopped at the time limit ({TIME_LIMIT} s)"),
}


@pytest.fixture(scope="module")
def blank(tmp_path_factory):
    root = tmp_path_factory.mktemp("attacks")
    return write_student_repo(root / "blank") / "notebooks" / "05_lora.ipynb"


@pytest.fixture
def listener():
    """A TCP listener on 127.0.0.1 that records whatever reaches it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    received, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                connection, _ = server.accept()
                received.append(connection.recv(1024))
                connection.close()
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    stop.set()
    thread.join()
    server.close()


def fingerprint() -> dict:
    """Every file of the repository that is not generated: path -> content hash."""
    skip = {".venv", ".git", "runs", "weights", "report", "handout", ".pytest_cache"}
    found = {}
    for path in REPO.rglob("*"):
        if path.is_file() and not set(path.relative_to(REPO).parts) & skip and "__pycache__" not in path.parts:
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def survivors(token: str) -> list[str]:
    """Processes that carry the attack's mark, or that are copies of the sandbox's runner."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
            if entry.name.isdigit() and (token in command or "/grader/answer.py" in command):
                found.append(entry.name)
        except OSError:
            pass
    return found


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attack_earns_nothing_and_escapes_nowhere(blank, tmp_path, listener, attack):
    port, received = listener
    token = uuid.uuid4().hex
    code, reason = ATTACKS[attack]
    code = code.format(token=token, port=port, repo=REPO, home=Path.home())
    notebook = nbformat.read(blank, as_version=4)
    cell = next(c for c in notebook.cells if c.cell_type == "code" and piece_tag(c))
    cell.source += "\n" + code
    path = tmp_path / "05_lora.ipynb"
    nbformat.write(notebook, path)
    before = fingerprint()
    started = time.perf_counter()
    graded = grade_notebook(path, time_limit=TIME_LIMIT)
    seconds = time.perf_counter() - started

    assert sum(row["points"] for row in graded["items"]) == 0, graded["items"]
    assert all(row["why"] and reason in row["why"] for row in graded["items"]), graded["items"]
    assert seconds < TIME_LIMIT + 30
    time.sleep(0.5)   # anything that escaped would have acted by now
    assert not received
    assert not survivors(token)
    outside = [Path(p) / f"attack-{token}" for p in (REPO, Path.home(), "/tmp", "/var/tmp")]
    assert not [p for p in outside if p.exists()]
    assert fingerprint() == before


def test_the_sandbox_holds_memory_to_its_limit(tmp_path):
    """A cell that grows a list by 256 MiB at a time, saying each step on stderr, stops before the limit."""
    from helpers.teaching import grade, sandbox
    from helpers.teaching.draw import Draw

    code = ("import sys\nheld = []\nwhile True:\n    held.append(bytearray(256 << 20))\n"
            "    print(len(held) * 256, file=sys.stderr, flush=True)\n")
    folder, log = tmp_path / "grading", tmp_path / "log"
    folder.mkdir()
    grade._write_task(folder, [{"label": "cell 1", "source": code}], Draw.new(1), [])
    limits = Limits(wall_seconds=60)
    outcome = sandbox.run(folder, limits, sandboxed=True, log=log)
    steps = [int(line) for line in log.read_text().split() if line.isdigit()]
    assert steps and max(steps) << 20 < limits.memory_bytes, (outcome, steps[-3:])
    assert outcome.seconds < 60
