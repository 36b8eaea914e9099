from __future__ import annotations

import re

import marshmallow as ma
import pytest
from flask.views import MethodView
from flask_smorest import Blueprint

from shared.http import create_app, flatten_messages

blp = Blueprint("things", __name__, url_prefix="/v1/things")


class Tag(ma.Schema):
    code = ma.fields.String(required=True)


class Thing(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1))
    tags = ma.fields.List(ma.fields.Nested(Tag))


@blp.route("")
class Things(MethodView):
    @blp.arguments(Thing)
    @blp.response(201, Thing)
    def post(self, thing):
        return thing


@pytest.fixture
def client():
    def failing():
        raise ConnectionError("store down")

    app = create_app(
        "probe", title="Probe", blueprints=[blp], checks={"ok": lambda: None}, max_body_bytes=256
    )
    broken = create_app("broken", title="Broken", checks={"store": failing})
    return app.test_client(), broken.test_client()


class TestErrors:
    def test_validation_errors_name_each_field(self, client):
        api, _ = client
        response = api.post("/v1/things", json={"name": "", "tags": [{"code": 1}], "extra": 1})
        assert response.status_code == 422
        error = response.get_json()["error"]
        assert error["code"] == "validation_failed"
        assert set(error["fields"]) == {"name", "tags.0.code", "extra"}
        assert error["fields"]["extra"] == ["Unknown field."]

    def test_malformed_json_is_a_400_naming_the_body(self, client):
        api, _ = client
        response = api.post("/v1/things", data="{nope", content_type="application/json")
        assert response.status_code == 400
        assert "_body" in response.get_json()["error"]["fields"]

    def test_oversized_bodies_are_refused(self, client):
        api, _ = client
        response = api.post("/v1/things", json={"name": "x" * 1000})
        assert response.status_code == 413
        assert response.get_json()["error"]["code"] == "request_entity_too_large"

    def test_unknown_route_is_json(self, client):
        api, _ = client
        response = api.get("/nowhere")
        assert response.status_code == 404
        assert response.get_json()["error"]["status"] == 404

    def test_correlation_id_is_echoed_and_in_errors(self, client):
        api, _ = client
        response = api.get("/nowhere", headers={"X-Correlation-Id": "corr-7"})
        assert response.headers["X-Correlation-Id"] == "corr-7"
        assert response.get_json()["error"]["correlation_id"] == "corr-7"


class TestOps:
    def test_health_ready_metrics(self, client):
        api, broken = client
        assert api.get("/healthz").status_code == 200
        assert api.get("/readyz").get_json() == {"status": "ready", "checks": {"ok": "ok"}}
        not_ready = broken.get("/readyz")
        assert not_ready.status_code == 503
        assert "store down" in not_ready.get_json()["checks"]["store"]
        api.post("/v1/things", json={"name": "a"})
        body = api.get("/metrics").get_data(as_text=True)
        assert (
            'waymark_http_requests_total{method="POST",route="/v1/things",service="probe",status="201"}'
            in body
        )

    def test_openapi_is_served(self, client):
        api, _ = client
        spec = api.get("/openapi.json").get_json()
        assert "/v1/things" in spec["paths"]


def test_flatten_messages_handles_nesting_and_lists():
    assert flatten_messages({"a": {"0": {"b": ["bad"]}}, "_schema": ["x"]}) == {
        "a.0.b": ["bad"],
        "_schema": ["x"],
    }


def test_the_api_docs_page_loads_every_asset_from_the_service_itself(client):
    """Hospital intranets are often offline: /docs must not reach for a CDN."""
    api, _ = client
    page = api.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, "the page names its scripts and stylesheet"
    for asset in assets:
        assert asset.startswith("/docs/assets/"), asset
        served = api.get(asset)
        assert served.status_code == 200 and len(served.data) > 1000, asset
    assert "SwaggerUIBundle" in api.get("/docs/assets/swagger-ui-bundle.js").get_data(as_text=True)
    assert api.get("/docs/assets/../../shared/http.py").status_code == 404
