"""The notebooks as a student meets them: JupyterLab from the venv, started as `make lab` starts
it (the student config of jupyter-config/), driven in Debian's headless Chromium through selenium.

Every notebook opens without an error dialog and unmodified (no dirty marker on its tab, and
saving it writes back the committed bytes). Notebook 05 then runs on the tiny profile, one epoch,
with Run All from the Run menu, in a copy whose parameters cell says profile = "tiny" and
epochs = 1 (the other lines as committed): every cell finishes, nothing goes to stderr, the three
reload lines ("-> same model") are on screen without "Show more outputs", the plot is drawn.
Screenshots of the opened and the finished notebook go to the test's temporary folder.

The notebooks are copies in a temporary folder (the repository's stay untouched), as are
Jupyter's config, data and runtime folders (nothing of the user's Jupyter setup leaks in). One
setting differs from `make lab`: `expose_app_in_browser`, so that the test can read the notebook
model (outputs, kernel state) beside the page; it changes nothing on screen."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from helpers.notebook.runner import NOTEBOOKS

REPO = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
RELOAD_LINE = "-> same model"
RELOADS_IN_05 = 3   # lora_scratch_8, lora_peft_8, lora_peft_1
ERROR_MIMES = ("application/vnd.jupyter.stderr", "application/vnd.jupyter.error")


def _require_browser() -> None:
    """Debian's Chromium and its driver; installed here when missing and this is root (as CI is)."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(f"no browser: {CHROMIUM} or {CHROMEDRIVER} is missing and this user cannot install them "
                    "(as root: apt-get install chromium chromium-driver; .ci/run does it)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"], check=True, env=env)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server on 127.0.0.1 with a random token, serving `folder`."""

    def __init__(self, home: Path, folder: Path):
        self.home, self.folder, self.token = home, folder, secrets.token_hex(16)
        self.url, self.log = f"http://127.0.0.1:{_free_port()}", home / "lab.log"
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
               "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTER_CONFIG_PATH": str(REPO / "jupyter-config")}
        env.pop("TQDM_DISABLE", None)   # the student sees the progress bars: they count as outputs
        root = ["--allow-root"] if os.geteuid() == 0 else []   # CI runs as root
        command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
                   f"--port={self.url.rsplit(':', 1)[1]}", "--port-retries=0", f"--IdentityProvider.token={self.token}",
                   "--LabApp.expose_app_in_browser=True", *root, str(folder)]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT)
        self._wait_until_up()

    def _wait_until_up(self, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"JupyterLab exited ({self.process.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2)
                return
            except OSError:
                time.sleep(0.3)
        raise AssertionError(f"JupyterLab did not answer within {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


@pytest.fixture(scope="module")
def lab(tmp_path_factory, tiny_backbone_dir, monkeypatch_module):
    _require_browser()
    # Both paths are given: selenium must never fall back to selenium-manager (a download).
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    def refuse(*args, **kwargs):
        raise AssertionError("selenium-manager was asked for a driver; the test uses /usr/bin/chromedriver")

    monkeypatch_module.setattr(SeleniumManager, "binary_paths", refuse)
    home = tmp_path_factory.mktemp("lab")
    (home / "notebooks").mkdir()
    for name in NOTEBOOKS:
        shutil.copy2(REPO / "notebooks" / f"{name}.ipynb", home / "notebooks")
    server = Lab(home, home / "notebooks")
    driver = None
    try:
        driver = _chromium()
        driver.get(f"{server.url}/lab?reset&token={server.token}")
        _wait(driver, "return !!(window.jupyterapp && document.querySelector('.lm-MenuBar-item'))", 60,
              "JupyterLab did not load")
        yield server, driver
    finally:
        if driver is not None:
            driver.quit()
        server.stop()


@pytest.fixture(scope="module")
def monkeypatch_module():
    patch = pytest.MonkeyPatch()
    yield patch
    patch.undo()


def _wait(driver, script: str, timeout: float, what: str, *args):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = driver.execute_script(script, *args)
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{what} (after {timeout} s)")


CURRENT = "const w = window.jupyterapp.shell.currentWidget;"


def _open(driver, name: str) -> None:
    """Open a notebook the way the file browser does, and wait until its kernel is idle: that is
    when JupyterLab writes the kernel's details into the notebook's metadata."""
    driver.execute_script("window.jupyterapp.commands.execute('docmanager:open', {path: arguments[0]})", name)
    _wait(driver, CURRENT + """return w && w.context && w.context.path === arguments[0] && w.context.isReady &&
          w.sessionContext.session && w.sessionContext.session.kernel &&
          w.sessionContext.session.kernel.status === 'idle' && w.content.widgets.length > 0""",
          60, f"{name}: never opened with an idle kernel", name)
    # JupyterLab writes the kernel-info reply (language_info) into the metadata once it resolves.
    driver.execute_script(CURRENT + "return w.sessionContext.session.kernel.info.then(() => true)")
    time.sleep(1.0)


def _dialogs(driver) -> list[str]:
    return [d.text for d in driver.find_elements("css selector", ".jp-Dialog")]


def _close(driver) -> None:
    driver.execute_script(CURRENT + "return w.sessionContext.shutdown().then(() => w.dispose())")
    time.sleep(0.5)


def test_every_notebook_opens_unmodified_without_grading_tools(lab):
    server, driver = lab
    menus = [m.text for m in driver.find_elements("css selector", ".lm-MenuBar-itemLabel")]
    assert "Run" in menus and not any("nbgrader" in m.lower() for m in menus), menus   # no grading menu
    for name in NOTEBOOKS:
        path = server.folder / f"{name}.ipynb"
        committed = path.read_bytes()
        _open(driver, path.name)
        assert not _dialogs(driver), f"{name}: an error dialog on opening: {_dialogs(driver)}"
        tab = driver.find_element("css selector", ".lm-DockPanel-tabBar .lm-TabBar-tab.jp-mod-current")
        assert name in tab.text
        # JupyterLab marks a notebook it changed on opening (kernelspec, language_info) with jp-mod-dirty.
        now = driver.execute_script(CURRENT + "return w.content.model.toJSON().metadata")
        assert "jp-mod-dirty" not in tab.get_attribute("class").split(), \
            f"{name}: marked modified on opening; stored metadata {json.loads(committed)['metadata']}, JupyterLab's {now}"
        cells = driver.execute_script(CURRENT + "return w.content.widgets.length")
        assert cells == len(json.loads(committed)["cells"])
        if name == "05_lora":
            shot = server.home / "05_lora_opened.png"
            driver.save_screenshot(str(shot))
            print(f"screenshot of the opened notebook: {shot}")
        driver.execute_script(CURRENT + "return w.context.save()")
        assert path.read_bytes() == committed, f"{name}: saving it unchanged rewrote the file (git status would show it)"
        _close(driver)
    log = server.log.read_text()
    assert "nbgrader" not in log.lower(), "a grading extension is loaded in the student's Jupyter"


def _run_all_from_the_menu(driver) -> None:
    from selenium.webdriver.common.by import By

    menu = next(m for m in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item") if m.text == "Run")
    menu.click()
    item = _wait(driver, "return document.querySelector('.lm-Menu-item[data-command=\"runmenu:run-all\"]')",
                 10, "no Run All Cells in the Run menu")
    item.click()


def _tiny_copy(path: Path) -> None:
    """The parameters cell as a student sets it for a quick try: profile "tiny", one epoch."""
    notebook = json.loads(path.read_text())
    cell = next(c for c in notebook["cells"] if "parameters" in c["metadata"].get("tags", []))
    source = "".join(cell["source"])
    edited = source.replace('profile = "full"', 'profile = "tiny"').replace("epochs = None", "epochs = 1")
    assert edited.count('"tiny"') == 1 + source.count('"tiny"') and "epochs = 1 " in edited, source
    cell["source"] = edited
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")


def test_notebook_05_runs_all_on_the_tiny_profile_with_every_line_in_sight(lab):
    server, driver = lab
    _tiny_copy(server.folder / "05_lora.ipynb")
    _open(driver, "05_lora.ipynb")
    _run_all_from_the_menu(driver)
    _wait(driver, CURRENT + """const cells = w.content.model.cells; const kernel = w.sessionContext.session.kernel;
          return kernel.status === 'idle' && w.content.widgets.every(c => c.model.type !== 'code' ||
                 (c.model.executionCount !== null && !c.promptNode.textContent.includes('*')))""",
          240, "notebook 05 did not finish: " + str(_dialogs(driver)))
    assert not _dialogs(driver), _dialogs(driver)
    outputs = driver.execute_script(CURRENT + """return w.content.widgets.filter(c => c.model.type === 'code').map(c =>
          Array.from({length: c.model.outputs.length}, (_, i) => c.model.outputs.get(i).toJSON()))""")
    errors = [o for cell in outputs for o in cell if o["output_type"] == "error" or o.get("name") == "stderr"]
    assert not errors, f"error or stderr output (library warnings?): {errors}"
    for mime in ERROR_MIMES:
        assert not driver.find_elements("css selector", f"[data-mime-type='{mime}']"), mime
    _assert_reload_lines_in_sight(driver)
    assert not driver.find_elements("css selector", ".jp-TrimmedOutputs"), "outputs hidden behind 'Show more outputs'"
    # Each cell draws its progress bars in one output: the count does not grow with runs or epochs.
    bars = [sum("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in cell) for cell in outputs]
    assert max(bars) == 1, f"progress-bar outputs per code cell: {bars}"
    image = driver.find_elements("css selector", ".jp-RenderedImage img")
    assert image and driver.execute_script("return arguments[0].naturalWidth", image[-1]) > 0, "no plot drawn"
    driver.execute_script("arguments[0].scrollIntoView({block: 'end'})", image[-1])
    time.sleep(0.5)
    shot = server.home / "05_lora_finished.png"
    driver.save_screenshot(str(shot))
    print(f"screenshot of the finished notebook: {shot}")
    assert "without encryption" not in server.log.read_text(), "the kernel talks to the server over plain TCP"


def _assert_reload_lines_in_sight(driver) -> None:
    """Rendered in the page (not trimmed away) and visible once scrolled to: no click needed."""
    from selenium.webdriver.common.by import By

    texts = [e for e in driver.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output") if RELOAD_LINE in
             e.get_attribute("textContent")]
    lines = sum(e.get_attribute("textContent").count(RELOAD_LINE) for e in texts)
    assert lines == RELOADS_IN_05, f"{lines} of {RELOADS_IN_05} reload lines rendered"
    for element in texts:
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        time.sleep(0.2)
        assert element.is_displayed(), element.text[:200]
