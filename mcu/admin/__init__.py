"""Operator control of a running MCU: an HTTP JSON admin API and `mcu ctl`, from one command table."""

from mcu.admin.errors import AdminStartError
from mcu.admin.service import AdminService, start_admin

__all__ = ["AdminService", "AdminStartError", "start_admin"]
