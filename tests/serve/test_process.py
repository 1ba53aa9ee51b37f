"""`sentscore serve` as a real process: it answers on 127.0.0.1 and stops cleanly on SIGTERM and SIGINT."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_then_shuts_down_cleanly(trained_tiny_dir, stop_signal):
    port = free_port()
    command = [sys.executable, "-m", "sentscore", "serve", str(trained_tiny_dir), "--port", str(port)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            assert process.poll() is None, process.communicate()[1]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        response = httpx.post(f"http://127.0.0.1:{port}/v1/score", json={"sentences": ["great", "awful"]})
        assert response.status_code == 200 and len(response.json()["results"]) == 2
        process.send_signal(stop_signal)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    # uvicorn finishes its shutdown, then re-raises the signal, so exiting by that signal is the clean end
    assert process.returncode in (0, -stop_signal, 128 + stop_signal), stderr
    output = stdout + stderr
    assert "Traceback" not in output
    assert output.count("POST /v1/score") == 1  # one access-log line per request
    assert "Finished server process" in output


def test_serve_on_a_taken_port_says_so_before_loading_the_model(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        absent_model = tmp_path / "no-model"  # the port is checked first, so this is never read
        command = [sys.executable, "-m", "sentscore", "serve", str(absent_model), "--port", str(port)]
        finished = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert finished.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in finished.stderr
    assert "--port" in finished.stderr and "Traceback" not in finished.stderr
