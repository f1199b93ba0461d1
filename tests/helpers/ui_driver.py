"""Page objects for the Prefect 3.9 UI (the new UI under /v2/), driven by Playwright.

Every wait is on a real element, URL or API response of the UI, bounded by the page's default
timeout; nothing sleeps for UI state. Selectors are roles and visible texts a person sees
("Run", "Custom run", "Submit", "Open menu", "Retry"), plus the form's field labels.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def chromium_executable() -> str | None:
    """Debian's Chromium (`apt-get install chromium`); DOCMILL_CHROMIUM overrides the path."""
    wanted = os.environ.get("DOCMILL_CHROMIUM")
    if wanted:
        return wanted if Path(wanted).exists() else None
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")


def launch(playwright, executable: str):
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)


def new_context(browser, base_url: str):
    """A context that talks to the UI's own host only: the new UI calls an analytics host even
    with analytics off, and there is no network here, so every other request is aborted."""
    host = urlparse(base_url).hostname
    context = browser.new_context(base_url=base_url, viewport={"width": 1400, "height": 1000})
    context.add_cookies([{"name": "prefect_ui_version", "value": "v2", "url": base_url}])

    def only_the_ui(route):
        if urlparse(route.request.url).hostname == host:
            return route.continue_()
        return route.abort()

    context.route("**/*", only_the_ui)
    return context


@contextlib.contextmanager
def evidence(page, folder: Path, name: str, *extra_logs: Path) -> Iterator[None]:
    """On any failure inside the block: a full-page screenshot, the page's HTML, the Playwright
    trace (open with `playwright show-trace`) and the tails of `extra_logs`, all under `folder`;
    their paths are added to the exception's notes."""
    context = page.context
    context.tracing.start(screenshots=True, snapshots=True)
    try:
        yield
    except BaseException as exc:
        folder.mkdir(parents=True, exist_ok=True)
        saved = []
        with contextlib.suppress(Exception):
            page.screenshot(path=folder / f"{name}.png", full_page=True)
            saved.append(folder / f"{name}.png")
        with contextlib.suppress(Exception):
            (folder / f"{name}.html").write_text(page.content())
            saved.append(folder / f"{name}.html")
        with contextlib.suppress(Exception):
            context.tracing.stop(path=folder / f"{name}-trace.zip")
            saved.append(folder / f"{name}-trace.zip")
        exc.add_note(f"page: {page.url}")
        exc.add_note("evidence: " + ", ".join(str(p) for p in saved))
        for log in extra_logs:
            with contextlib.suppress(Exception):
                exc.add_note(
                    f"--- tail of {log} ---\n" + "\n".join(log.read_text().splitlines()[-40:])
                )
        raise
    else:
        context.tracing.stop()


@dataclass
class CreatedRun:
    id: str
    parameters: dict


@dataclass
class ShownField:
    """One parameter of the run form: `widget` is text, number, switch, choice (a dropdown),
    list, json, or `tabs:<selected tab>` for a parameter that offers a choice of types
    (`pending` while its editor has not rendered)."""

    widget: str
    value: object


# Reads the Parameters section of the run form. Each parameter is a block with the class
# "group" holding its label and a fieldset with the widget.
_READ_PARAMETERS_JS = """() => {
    const heading = [...document.querySelectorAll('h3')]
        .find(h => h.textContent.trim() === 'Parameters');
    const shown = {};
    for (const group of heading.parentElement.querySelectorAll('div.group')) {
        const label = group.querySelector(':scope > div label');
        const fieldset = group.querySelector(':scope > fieldset');
        if (!label || !fieldset) continue;
        const name = label.textContent.trim().replace(/ [(]Optional[)]$/, '');
        const tab = fieldset.querySelector('[role=tab][aria-selected=true]');
        const choice = fieldset.querySelector('button[aria-haspopup=listbox]');
        const toggle = fieldset.querySelector('[role=switch]');
        const number = fieldset.querySelector('input[type=number]');
        const json = fieldset.querySelector('[role=textbox][data-language=json]');
        const card = fieldset.querySelector(':scope > [data-slot=card]');
        const text = fieldset.querySelector('textarea');
        let field;
        if (tab) {
            const selected = tab.textContent.trim();
            field = {widget: 'tabs:' + selected, value: selected === 'None' ? null : selected};
        } else if (choice) {
            field = {widget: 'choice', value: choice.textContent.trim()};
        } else if (toggle) {
            field = {widget: 'switch', value: toggle.getAttribute('aria-checked') === 'true'};
        } else if (number) {
            field = {widget: 'number', value: number.value === '' ? null : Number(number.value)};
        } else if (json && json.textContent) {
            field = {widget: 'json', value: JSON.parse(json.textContent)};
        } else if (card) {
            const items = [...card.querySelectorAll('textarea')].map(t => t.value);
            field = {widget: 'list', value: items};
        } else if (text) {
            field = {widget: 'text', value: text.value};
        } else {
            field = {widget: 'pending', value: fieldset.textContent.trim()};
        }
        shown[name] = field;
    }
    return shown;
}"""


class PrefectUI:
    """The clicks a person makes in the new Prefect UI."""

    def __init__(self, page):
        self.page = page

    # Never press Escape on these pages to close something: on a flow run's page, Escape
    # (like "f") toggles the run graph's full-screen mode, which then covers everything.

    def _click_until(self, target, shown, *, attempts: int = 4, patience_ms: int = 4_000) -> None:
        """Click `target` until `shown` is visible. A page that is still settling (the run
        graph loading, a default `?tab=` written into the URL) can close a menu right after
        it opened or undo a tab click; a person clicks again, and so do we, bounded."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

        for attempt in range(1, attempts + 1):
            if not shown.is_visible():
                target.click()
            try:
                shown.wait_for(timeout=patience_ms if attempt < attempts else None)
                return
            except PlaywrightTimeoutError:
                if attempt == attempts:
                    raise

    def _choose(self, trigger, item, *, attempts: int = 4, patience_ms: int = 4_000) -> None:
        """Open the menu of `trigger` and click its `item`, opening it again (bounded) if it
        closed before the item could be clicked (see `_click_until`)."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

        for attempt in range(1, attempts + 1):
            if not item.is_visible():
                trigger.click()
            try:
                item.click(timeout=patience_ms if attempt < attempts else None)
                return
            except PlaywrightTimeoutError:
                if attempt == attempts:
                    raise

    # --- navigation -----------------------------------------------------------------------

    def open_home(self) -> None:
        """`/` redirects to `/v2/`, which renders client-side: wait for the sidebar."""
        self.page.goto("/")
        self.page.locator('a[href$="/deployments"]').first.wait_for()

    def open_deployment(self, name: str) -> None:
        """Sidebar "Deployments" → search box → the deployment's link."""
        page = self.page
        page.locator('a[href$="/deployments"]').first.click()
        search = page.get_by_placeholder(re.compile(r"^Search deployments"))
        search.fill(name)
        # The search box is debounced into the URL, and it may write the URL once more right
        # after; a click on a row before that has happened is undone (the late write navigates
        # back to the list). So wait for the URL, then for the table to show only matching
        # rows, which renders after the filtered request, well after that late write.
        page.wait_for_url(re.compile(r"[?&]flowOrDeploymentName=" + re.escape(name) + r"(&|$)"))
        page.wait_for_function(
            """name => {
                const links = [...document.querySelectorAll(
                    'table a[href*="/deployments/deployment/"]')];
                return links.length > 0 && links.every(
                    a => a.textContent.toLowerCase().includes(name.toLowerCase()));
            }""",
            arg=name,
        )
        link = (
            page.get_by_role("row")
            .get_by_role("link", name=name, exact=True)
            .and_(page.locator('a[href*="/deployments/deployment/"]'))
        )
        link.click()
        page.wait_for_url(re.compile(r"/deployments/deployment/[0-9a-f-]+"))
        page.get_by_role("button", name="Run", exact=True).wait_for()

    def open_flow_run_from_deployment(self, run_id: str) -> None:
        """On a deployment's page: tab "Runs" → the run's link."""
        page = self.page
        run_link = page.locator(f'a[href$="/runs/flow-run/{run_id}"]').first
        self._click_until(page.get_by_role("tab", name="Runs"), run_link)
        run_link.click()
        page.wait_for_url(re.compile(rf"/runs/flow-run/{run_id}"))

    # --- custom run -----------------------------------------------------------------------

    def open_custom_run_form(self) -> None:
        """On a deployment's page: "Run" → "Custom run"; waits until the parameters render."""
        page = self.page
        self._choose(
            page.get_by_role("button", name="Run", exact=True),
            page.get_by_role("menuitem", name="Custom run"),
        )
        page.wait_for_url(re.compile(r"/deployments/deployment/[0-9a-f-]+/run"))
        page.get_by_role("heading", name="Parameters").wait_for()
        page.get_by_role("button", name="Submit").wait_for()

    def field(self, name: str):
        """A parameter's block in the form: its label reads `name` or `name (Optional)`."""
        label = f"normalize-space(.)='{name}' or normalize-space(.)='{name} (Optional)'"
        block = "div[contains(concat(' ', @class, ' '), ' group ')]"
        locator = self.page.locator(f"xpath=//label[{label}]/ancestor::{block}[1]")
        locator.wait_for()
        return locator

    def set_text(self, name: str, value: str) -> None:
        self.field(name).get_by_role("textbox").fill(value)

    def set_text_list(self, name: str, values: list[str]) -> None:
        """Replaces the items of a list parameter (the form starts with its default items)."""
        field = self.field(name)
        boxes = field.get_by_role("textbox")
        for n, value in enumerate(values):
            if n >= boxes.count():
                field.get_by_role("button", name="Add item").click()
                boxes.nth(n).wait_for()
            boxes.nth(n).fill(value)
        assert boxes.count() == len(values), f"{name} holds more items than given"

    def shown_parameters(self, expected: Collection[str] = ()) -> dict[str, ShownField]:
        """Every parameter of the form as a person reads it: which widget it has and the value
        it shows. A parameter that is `X | None` shows type tabs ("str", "None"); with "None"
        selected its value reads as None. Waits until each of `expected` has a block, so a
        missing parameter fails here with the page's own timeout rather than as an empty read."""
        page = self.page
        page.get_by_role("heading", name="Parameters").wait_for()
        # The parameter blocks mount after the heading, and some editors (the JSON one) after
        # the rest: wait for at least one block and none still pending (an empty form would
        # otherwise pass "every editor has rendered" trivially).
        page.wait_for_function(
            f"""() => {{
                const shown = ({_READ_PARAMETERS_JS})();
                const fields = Object.values(shown);
                return fields.length > 0 && fields.every(f => f.widget !== 'pending')
                    && {json.dumps(sorted(expected))}.every(n => n in shown);
            }}"""
        )
        found = page.evaluate(_READ_PARAMETERS_JS)
        return {name: ShownField(**field) for name, field in found.items()}

    def choices(self, name: str) -> list[str]:
        """The options of a dropdown parameter. Closes the list by choosing the option already
        selected, so the form keeps its value."""
        field = self.field(name)
        trigger = field.get_by_role("button", name=f"Select {name}")
        shown = trigger.inner_text().strip()
        listbox = self.page.get_by_role("listbox")
        self._click_until(trigger, listbox)
        options = [option.inner_text().strip() for option in listbox.get_by_role("option").all()]
        listbox.get_by_role("option", name=shown, exact=True).click()
        listbox.wait_for(state="hidden")
        return options

    def submit_run(self, attempts: int = 3) -> CreatedRun:
        """ "Submit": the UI validates the values, then creates the run; returns what it created
        (read from the UI's own API response) once the run's toast shows.

        A Prefect server on SQLite answers 503 when its database is briefly busy (its own
        clients retry those); the UI then keeps the form as it was and shows "Unknown error
        while creating flow run", and a person clicks Submit again. So do we, a bounded number
        of times, and only for a 503."""
        page = self.page
        for attempt in range(1, attempts + 1):
            with page.expect_response(
                lambda r: r.request.method == "POST" and r.url.endswith("/create_flow_run")
            ) as created:
                page.get_by_role("button", name="Submit").click()
            response = created.value
            if response.status != 503 or attempt == attempts:
                break
        assert response.ok, f"create_flow_run answered {response.status}: {response.text()}"
        body = response.json()
        page.get_by_role("link", name="View run").first.wait_for()
        return CreatedRun(id=body["id"], parameters=body["parameters"])

    def view_created_run(self, run_id: str) -> None:
        """The toast's "View run" link. A toast closes by itself after a few seconds; should
        it be gone before the click (a very slow machine), open the run's page by its URL."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

        page = self.page
        toast_link = page.locator(f'a[href$="/runs/flow-run/{run_id}"]', has_text="View run")
        try:
            toast_link.click(timeout=5_000)
        except PlaywrightTimeoutError:
            page.goto(f"/v2/runs/flow-run/{run_id}")
        page.wait_for_url(re.compile(rf"/runs/flow-run/{run_id}"))

    # --- a flow run's page ----------------------------------------------------------------

    def wait_for_state(self, states: str, timeout_ms: float) -> str:
        """Wait until the state badge in the run's header (the page polls the API) reads one
        of `states` ("Completed|Failed"); returns what it reads."""
        badge = self.page.get_by_role("main").get_by_text(re.compile(rf"^({states})$")).first
        badge.wait_for(timeout=timeout_ms)
        return badge.inner_text().strip()

    def retry_run(self, attempts: int = 4) -> dict:
        """ "Open menu" → "Retry" → the dialog's "Retry"; returns the state the UI set. Done
        again (bounded) if the dialog did not open, or the server answered 503."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

        page = self.page
        menu_button = page.get_by_role("main").get_by_role("button", name="Open menu").first
        retry_item = page.get_by_role("menuitem", name="Retry")
        dialog = page.get_by_role("alertdialog", name="Retry Flow Run")
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            self._choose(menu_button, retry_item)
            try:
                dialog.wait_for(timeout=None if last else 4_000)
            except PlaywrightTimeoutError:
                if last:
                    raise
                continue
            with page.expect_response(
                lambda r: r.request.method == "POST" and r.url.endswith("/set_state")
            ) as answered:
                dialog.get_by_role("button", name="Retry", exact=True).click()
            response = answered.value
            if response.status != 503 or last:
                break
            if dialog.is_visible():
                dialog.get_by_role("button", name="Cancel").click()
            dialog.wait_for(state="hidden")
        assert response.ok, f"set_state answered {response.status}: {response.text()}"
        dialog.wait_for(state="hidden")
        return json.loads(response.request.post_data or "{}").get("state", {})
