"""Identifiers: run ids are 32 hex characters, time-ordered so recent runs cluster in indexes."""

from __future__ import annotations

import os
import time


def new_run_id() -> str:
    # 48 bits of milliseconds, then 80 random bits: sortable by creation, unique across hosts.
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


def new_token_secret() -> str:
    return "spt_" + os.urandom(24).hex()
