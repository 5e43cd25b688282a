"""docs/mqtt.md stays the reference the configuration template and docs/config.md point to."""

from __future__ import annotations

import re
from pathlib import Path

from pvapp import config as pvconfig
from pvapp.outputs.mqtt.config import KEYS, TLS_KEYS

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "mqtt.md").read_text(encoding="utf-8")


def test_links_to_docs_resolve() -> None:
    texts = {
        "pv config init template": pvconfig.EXAMPLE,
        "docs/config.md": (REPO / "docs" / "config.md").read_text(encoding="utf-8"),
        "docs/home-assistant.md": (REPO / "docs" / "home-assistant.md").read_text(encoding="utf-8"),
    }
    for where, text in texts.items():
        for target in re.findall(r"docs/([\w.-]+\.md)", text) + re.findall(r"\]\(([\w.-]+\.md)", text):
            assert (REPO / "docs" / target).is_file(), f"{where} links to docs/{target}, which does not exist"
    assert "docs/mqtt.md" in pvconfig.EXAMPLE


def test_every_key_and_topic_is_documented() -> None:
    for key in (*KEYS, *TLS_KEYS):
        assert f"`{key}`" in DOC or f"{key} =" in DOC, f"mqtt.{key} is not documented in docs/mqtt.md"
    for topic in ("<base>/status", "<base>/<serial>/availability", "<base>/<serial>/state", "<base>/announced",
                  "<base>/_sync/<client_id>"):  # fmt: skip
        assert f"`{topic}`" in DOC, topic
    assert "EnvironmentFile" in DOC and "Environment=PV_MQTT_PASSWORD" in DOC  # the one not to use, said so
