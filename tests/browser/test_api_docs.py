"""The API docs page (/api/docs/) in headless Chromium against the real stack: the OpenAPI document
renders, with no console error, and the browser asks no other host for anything."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests

pytestmark = pytest.mark.e2e


@pytest.fixture
def page(browser):
    context = browser.new_context()
    yield context.new_page()
    context.close()


def test_the_page_and_its_files_are_served_by_the_app(stack):
    page = requests.get(f"{stack.url}/api/docs", timeout=10)

    assert page.status_code == 200 and page.url == f"{stack.url}/api/docs/"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    for name, media in [
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("apidocs.js", "text/javascript"),
    ]:
        answer = requests.get(f"{stack.url}/api/docs/{name}", timeout=10)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith(media), name


def test_the_document_renders_with_no_error_and_nothing_from_another_host(stack, page):
    errors: list[str] = []
    asked: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: asked.append(request.url))

    page.goto(f"{stack.url}/api/docs/")
    sale = page.locator(".opblock-post .opblock-summary-path[data-path='/api/sales/']")
    sale.wait_for()

    title = requests.get(f"{stack.url}/api/openapi.json", timeout=10).json()["info"]["title"]
    assert title in page.locator(".info .title").inner_text()
    assert (
        sale.locator("xpath=ancestor::*[contains(@class, 'opblock-summary')]")
        .locator(".opblock-summary-method")
        .inner_text()
        == "POST"
    )
    assert page.locator(".opblock-summary-path[data-path='/api/products/{product_id}/']").count() == 2  # GET and PATCH
    assert page.locator(".errors-wrapper").count() == 0  # Swagger UI found nothing wrong in the document

    sale.click()  # the operation opens: its request body and answers, from the document's schemas
    page.locator(".opblock-post.is-open .responses-table").first.wait_for()
    assert page.locator(".opblock-post.is-open .response-col_status").filter(has_text="202").count() == 1

    origin = urlsplit(stack.url)[:2]
    assert asked and all(urlsplit(url)[:2] == origin for url in asked if not url.startswith("data:")), asked
    assert f"{stack.url}/api/openapi.json" in asked
    assert errors == [], asked
