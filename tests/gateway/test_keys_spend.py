"""Keys (generate, info, delete, expiry), budgets, and spend: estimated, settled, refunded,
reported in usage, a header, /key/info and /spend/logs."""

from __future__ import annotations

import datetime as dt
import time

import openai
import pytest

from .conftest import MASTER_KEY, Gateway, wait_done


def _info(gateway: Gateway, key: str) -> dict[str, object]:
    with gateway.http(key) as http:
        reply = http.get("/key/info")
    assert reply.status_code == 200, reply.text
    info: dict[str, object] = reply.json()["info"]
    return info


def test_generate_shows_the_secret_once_and_stores_a_hash(gateway: Gateway) -> None:
    with gateway.admin() as admin:
        created = admin.post(
            "/key/generate",
            json={"key_alias": "team-a", "models": ["sora-2"], "metadata": {"team": "a"}},
        ).json()
        listed = admin.get("/key/list").json()["keys"]
    secret = created["key"]
    assert secret.startswith("sk-vg-") and len(secret) > 40
    entry = next(k for k in listed if k["key_id"] == created["key_id"])
    assert secret not in str(listed) and entry["key_alias"] == "team-a"
    import sqlalchemy

    engine = sqlalchemy.create_engine(gateway.db_url)
    with engine.connect() as conn:
        dump = str(conn.execute(sqlalchemy.text("SELECT * FROM api_keys")).all())
    engine.dispose()
    assert secret not in dump  # only the hash is stored
    info = _info(gateway, secret)
    assert info["models"] == ["sora-2"] and info["metadata"] == {"team": "a"}


def test_only_the_master_key_manages_keys(gateway: Gateway) -> None:
    key = gateway.new_key()
    with gateway.http(key) as http:
        assert http.post("/key/generate", json={}).status_code == 403
        assert http.get("/key/list").status_code == 403
        assert http.post("/key/delete", json={"keys": [key]}).status_code == 403
        other = gateway.new_key()
        assert http.post("/key/info", json={"key": other}).status_code == 404


def test_deleted_key_stops_working(gateway: Gateway) -> None:
    key = gateway.new_key()
    gateway.openai(key).videos.list()
    with gateway.admin() as admin:
        reply = admin.post("/key/delete", json={"keys": [key]})
    assert reply.status_code == 200 and len(reply.json()["deleted_keys"]) == 1
    with pytest.raises(openai.AuthenticationError):
        gateway.openai(key).videos.list()


def test_expired_key_is_rejected(gateway: Gateway) -> None:
    # A key may not be minted already expired (a 400): mint one that expires in a second.
    with gateway.admin() as admin:
        stale = admin.post("/key/generate", json={"expires_at": int(time.time()) - 1})
        assert stale.status_code == 400 and stale.json()["error"]["param"] == "expires_at"
    expires_at = int(time.time()) + 3  # in the future even if the request is slow
    key = gateway.new_key(expires_at=expires_at)
    time.sleep(max(0.0, expires_at - time.time()) + 0.2)
    with pytest.raises(openai.AuthenticationError) as caught:
        gateway.openai(key).videos.list()
    assert caught.value.code == "expired_api_key"
    assert gateway.new_key(duration="1h")  # a duration gives a key that works
    with gateway.admin() as admin:
        assert admin.post("/key/generate", json={"duration": "soon"}).status_code == 400


def test_budget_refuses_the_job_that_would_pass_it(gateway: Gateway) -> None:
    key = gateway.new_key(max_budget=0.25)
    client = gateway.openai(key)
    first = client.videos.create(prompt="a", model="sora-2", seconds="2")  # $0.20
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.create(prompt="b", model="sora-2", seconds="1")  # $0.10 more: over
    assert caught.value.code == "budget_exceeded" and caught.value.type == "budget_exceeded"
    assert [v.id for v in client.videos.list()] == [first.id]  # no job was started
    assert _info(gateway, key)["spend"] == pytest.approx(0.2)
    client.videos.create(prompt="free", model="local/preview", seconds="1")  # $0 still fits


def test_spend_is_settled_and_shown_everywhere(gateway: Gateway) -> None:
    key = gateway.new_key(key_alias="spender")
    client = gateway.openai(key)
    raw = client.videos.with_raw_response.create(prompt="paid", model="sora-2-pro", seconds="2")
    video = raw.parse()
    assert raw.headers["x-vidgate-cost-usd"] == "0.6000"
    done = wait_done(client, video.id)
    assert done.usage == {"seconds": 2.0, "cost_usd": 0.6}
    assert _info(gateway, key)["spend"] == pytest.approx(0.6)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    key_id = _info(gateway, key)["key_id"]
    with gateway.admin() as admin:
        logs = admin.get(
            "/spend/logs", params={"key_id": key_id, "start_date": today, "end_date": today}
        ).json()
        by_model = admin.get("/spend/logs", params={"model": "sora-2-pro"}).json()
        tomorrow = (dt.date.fromisoformat(today) + dt.timedelta(days=1)).isoformat()
        later = admin.get("/spend/logs", params={"start_date": tomorrow}).json()
    assert [(e["request_id"], e["spend"], e["status"]) for e in logs] == [
        (video.id, 0.6, "completed")
    ]
    assert video.id in [e["request_id"] for e in by_model]
    assert all(e["model"] == "sora-2-pro" for e in by_model)
    assert later == []
    with gateway.http(key) as http:  # a key sees its own log, not others'
        own = http.get("/spend/logs").json()
        assert {e["key_id"] for e in own} == {key_id}
        assert http.get("/spend/logs", params={"key_id": "key_other"}).status_code == 403


def test_delete_before_completion_refunds(gateway: Gateway) -> None:
    key = gateway.new_key()
    client = gateway.openai(key)
    video = client.videos.create(prompt="cancel me", model="sora-2", seconds="4")
    assert _info(gateway, key)["spend"] == pytest.approx(0.4)
    client.videos.delete(video.id)
    assert _info(gateway, key)["spend"] == pytest.approx(0.0)
    with gateway.http(key) as http:
        entry = http.get("/spend/logs").json()[0]
    assert (entry["request_id"], entry["refunded"], entry["deleted"]) == (video.id, True, True)


def test_metrics_report_requests_jobs_and_spend(gateway: Gateway) -> None:
    gateway.openai(gateway.new_key()).videos.list()
    with gateway.http() as http:
        text = http.get("/metrics").text
    assert 'vidgate_requests_total{method="GET",route="/v1/videos",status="200"}' in text
    assert "vidgate_request_duration_seconds_bucket" in text
    assert 'vidgate_jobs{status="completed"}' in text
    assert 'vidgate_spend_usd{model="sora-2-pro"}' in text


def test_health_endpoints(gateway: Gateway) -> None:
    with gateway.http() as http:
        assert http.get("/health/liveliness").json() == {"status": "healthy"}
        assert http.get("/health/readiness").json()["db"] == "connected"


def test_master_key_is_its_own_owner(gateway: Gateway) -> None:
    client = gateway.openai(MASTER_KEY)
    video = client.videos.create(prompt="admin's", model="local/preview", seconds="1")
    assert client.videos.retrieve(video.id).id == video.id
    with pytest.raises(openai.NotFoundError):
        gateway.openai(gateway.new_key()).videos.retrieve(video.id)
