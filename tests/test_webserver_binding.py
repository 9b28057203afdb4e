"""Reliability item 25: the Dagster webserver, launched as the README says, listens on 127.0.0.1 only (it has no
authentication), and every API key is read with dg.EnvVar when a call needs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import PROJECT_ROOT

BIN = Path(sys.executable).parent


def listening_addresses(port: int) -> set[str]:
    """The local IPv4/IPv6 addresses with a socket listening on `port` (from /proc/net/tcp{,6})."""
    found = set()
    for name in ("tcp", "tcp6"):
        table = Path(f"/proc/net/{name}")
        for line in table.read_text().splitlines()[1:] if table.exists() else ():
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                if len(raw) == 4:
                    found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                else:
                    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                    found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def test_the_webserver_listens_on_loopback_only(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    proc = subprocess.Popen([str(BIN / "dagster-webserver"), "-m", "podcast_assets.definitions", "-p", str(port)],
                            cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline, answered = time.monotonic() + 180, False
        while time.monotonic() < deadline and proc.poll() is None and not answered:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as reply:
                    answered = reply.status == 200
            except OSError:
                time.sleep(0.5)
        assert answered, "the webserver did not come up"
        assert listening_addresses(port) == {"127.0.0.1"}
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_every_key_is_read_with_dg_envvar_at_call_time():
    """Reliability item 25, second half: the resources never read a key from os.environ themselves, and never
    take one as config (only the variable's name)."""
    import re

    from podcast_assets.resources.asr import ASRResource
    from podcast_assets.resources.llm import LLMResource
    from podcast_assets.resources.tts import TTSResource

    for path in sorted((PROJECT_ROOT / "podcast_assets" / "resources").glob("*.py")):
        source = path.read_text()
        assert not re.search(r"os\.environ|os\.getenv", source), f"{path.name} reads the environment itself"
    for resource in (ASRResource, LLMResource, TTSResource):
        fields = set(resource.model_fields)
        assert "api_key_env" in fields and not fields & {"api_key", "key", "token", "secret"}, resource
        assert "dg.EnvVar(" in Path(sys.modules[resource.__module__].__file__).read_text(), resource
