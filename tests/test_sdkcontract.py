"""The private singer-sdk names the tap relies on are still there, as the tap expects.

`tap_discord/sdkcontract.py` lists them; each failure names the installed singer-sdk
version and what changed, so that an upgrade shows what to re-read in the SDK.
"""

from __future__ import annotations

import importlib
import inspect
import re
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from tap_discord import sdkcontract
from tap_discord.sdkcontract import PRIVATE_IMPORTS, PRIVATE_MEMBERS, PrivateImport, PrivateMember

ROOT = Path(__file__).resolve().parent.parent
SDK_VERSION = metadata.version("singer-sdk")
#: An import from a module path with a private part, e.g. `singer_sdk.helpers._state`.
PRIVATE_SDK_IMPORT = re.compile(r"^\s*(?:from|import)\s+singer_sdk(?:\.\w+)*\._\w", re.M)


def where(what: str) -> str:
    """A failure message that names the installed SDK and the version last checked."""
    return (
        f"singer-sdk {SDK_VERSION} (contract checked against "
        f"{sdkcontract.CHECKED_SDK_VERSION}): {what}; see tap_discord/sdkcontract.py"
    )


def parameter_names(function: Any) -> tuple[str, ...]:
    """The names of a callable's parameters, in order."""
    return tuple(inspect.signature(function).parameters)


def sdk_source(owner: type) -> str:
    """The source of `owner` and of its singer-sdk base classes."""
    return "\n".join(
        inspect.getsource(cls) for cls in owner.__mro__ if cls.__module__.startswith("singer_sdk.")
    )


def sdk_method(owner: type, qualified: str) -> Any:
    """The function `Class.method` found among `owner`'s classes (a property's getter)."""
    class_name, name = qualified.split(".")
    for cls in owner.__mro__:
        if cls.__name__ == class_name and name in vars(cls):
            member = vars(cls)[name]
            return member.fget if isinstance(member, property) else member
    return None


@pytest.mark.parametrize("entry", PRIVATE_IMPORTS, ids=lambda e: f"{e.module}.{e.name}")
def test_a_private_import_is_there_with_its_parameters(entry: PrivateImport) -> None:
    try:
        module = importlib.import_module(entry.module)
    except ImportError:
        pytest.fail(where(f"module {entry.module} is gone ({entry.why})"))
    found = getattr(module, entry.name, None)
    assert found is not None, where(f"{entry.module}.{entry.name} is gone ({entry.why})")
    assert getattr(sdkcontract, entry.name) is found
    target = found.__init__ if inspect.isclass(found) else found
    names = parameter_names(target)
    assert names == entry.parameters, where(
        f"{entry.module}.{entry.name} takes {names}, the tap expects {entry.parameters}"
    )


@pytest.mark.parametrize("entry", PRIVATE_MEMBERS, ids=lambda e: f"{e.owner.__name__}.{e.name}")
def test_a_private_member_is_there_with_its_parameters(entry: PrivateMember) -> None:
    label = f"{entry.owner.__name__}.{entry.name}"
    if entry.parameters is None:
        assigned = re.search(
            rf"\bself\.{entry.name}\b\s*(?::[^=\n]+)?=(?!=)", sdk_source(entry.owner)
        )
        declared = entry.name in getattr(entry.owner, "__annotations__", {})
        assert assigned or declared, where(f"{label} is no longer set ({entry.why})")
    else:
        method = getattr(entry.owner, entry.name, None)
        assert callable(method), where(f"{label} is gone ({entry.why})")
        names = parameter_names(method)
        assert names == entry.parameters, where(
            f"{label} takes {names}, the tap expects {entry.parameters}"
        )
    for qualified in entry.used_by:
        user = sdk_method(entry.owner, qualified)
        assert user is not None, where(f"{qualified}, which used {label}, is gone")
        assert f".{entry.name}" in inspect.getsource(user), where(
            f"{qualified} no longer uses {label}: the tap's override would do nothing"
        )


def test_the_pin_is_the_release_the_contract_was_checked_against() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pins = re.findall(r'^\s*"(singer-sdk\b[^"]*)"', pyproject, re.M)
    assert pins == [f"singer-sdk[msgspec]~={sdkcontract.CHECKED_SDK_VERSION}"]
    assert sdkcontract.CHECKED_SDK_VERSION in (sdkcontract.__doc__ or "")


def test_private_sdk_modules_are_imported_only_by_the_contract() -> None:
    contract = ROOT / "tap_discord" / "sdkcontract.py"
    found = [
        str(path.relative_to(ROOT))
        for folder in ("tap_discord", "tests")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != contract and PRIVATE_SDK_IMPORT.search(path.read_text(encoding="utf-8"))
    ]
    assert not found, f"import private SDK names from tap_discord.sdkcontract instead: {found}"
