"""Helpers for the web tests and `experiments/screenshot_web.py`: a server in a thread, a headless Chromium."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

from derain.commands.serve import listen
from derain.web.app import Settings, create_app

CHROMIUM = ("chromium", "chromedriver")  # Debian's packages `chromium` and `chromium-driver`


def missing_browser() -> str:
    """Why the browser tests cannot run here ('' when they can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -c constraints.txt -e '.[web-test]')"
    absent = [name for name in CHROMIUM if shutil.which(name) is None]
    return f"{' and '.join(absent)} not found (apt-get install chromium chromium-driver)" if absent else ""


class ServerThread:
    """`derain serve` in this process, on a free port of 127.0.0.1 (its temporary folder goes with it)."""

    def __init__(self, settings: Settings | None = None) -> None:
        import uvicorn

        self.app = create_app(settings or Settings())
        sock = listen("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(60)


def chromium(download_dir: Path, width: int = 1280, height: int = 900):  # -> selenium WebDriver
    """Headless Chromium that saves downloads into `download_dir` (never fetches a driver)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                              "download.prompt_for_download": False})
    return webdriver.Chrome(options=options, service=Service(executable_path=shutil.which("chromedriver")))


def upload(driver, server_url: str, paths: list[Path]) -> None:
    """Open the page and choose `paths` in its file picker (as a user does, many at once)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(server_url)
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
    driver.find_element(By.ID, "files").send_keys("\n".join(str(p) for p in paths))


def wait_for_card(driver, name: str, timeout: float = 120):  # -> the card's WebElement, finished
    """The card of `name` once its photo is done or failed."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def finished(d):
        for card in d.find_elements(By.CSS_SELECTOR, "#jobs .card"):
            if (card.find_element(By.CLASS_NAME, "name").text == name
                    and card.get_attribute("data-state") in ("done", "error")):
                return card
        return False

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(finished)
