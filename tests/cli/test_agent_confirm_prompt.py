"""The terminal's approval prompt cannot lie: model text with escape sequences, hidden lines and
invisible characters is shown character by character, with the full plan and the risk reasons."""

from __future__ import annotations

from qwen3vl_agent.actions.model import Action, ActionType, ResolvedAction
from qwen3vl_agent.cli.agent_cmd import confirm_prompt
from qwen3vl_agent.config import SafetySettings
from qwen3vl_agent.executor import ActionContext, ActionExecutor, ConfirmationRequest

# ESC[1A ESC[2K moves up and erases the line: on a raw terminal the second line would vanish
HOSTILE = "hello\x1b[1A\x1b[2K\nrm -rf ~\n\u202eevil\u200b"


def asked(resolved: ResolvedAction, context: ActionContext | None = None) -> ConfirmationRequest:
    requests: list[ConfirmationRequest] = []

    def decline(request: ConfirmationRequest) -> bool:
        requests.append(request)
        return False

    with ActionExecutor(SafetySettings(mode="confirm"), confirm=decline) as executor:
        assert executor.execute_sync(resolved, context).status == "rejected"
    [request] = requests
    return request


def test_typed_text_is_shown_whole_and_visible() -> None:
    request = asked(ResolvedAction(Action(ActionType.TYPE, text=HOSTILE)), ActionContext("Password"))
    prompt = confirm_prompt(request)
    assert "\x1b" not in prompt and "\u202e" not in prompt and "\u200b" not in prompt
    assert prompt.startswith("Execute: type ") and prompt.endswith("Approve?")
    assert f"paste (clipboard) {len(HOSTILE)} character(s): «hello␛[1A␛[2K⏎" in prompt
    assert "rm -rf ~⏎" in prompt and "⟨U+202E⟩evil⟨U+200B⟩»" in prompt
    assert "Risks:" in prompt and "types into a password field" in prompt


def test_every_key_and_the_point_are_shown() -> None:
    request = asked(ResolvedAction(Action(ActionType.KEY, keys=("ctrl", "shift", "k"))))
    assert "press the keys ctrl + shift + k together (3 key(s))" in confirm_prompt(request)
    click = asked(ResolvedAction(Action(ActionType.LEFT_CLICK, coordinate=(1, 2)), point=(40, 50)))
    prompt = confirm_prompt(click)
    assert (
        "at screen (40, 50)" in prompt and "move the pointer to (40, 50)" in prompt and "left click" in prompt
    )
