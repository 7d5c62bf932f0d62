"""``Idempotency-Key`` on ``POST /videos``: a replay returns the first job and charges once;
another body under the same key is a 422; concurrent duplicates start one job."""

from __future__ import annotations

import threading

import sqlalchemy

from .conftest import Gateway, png_bytes


def _jobs_in_db(gateway: Gateway, key_hash_owner: str | None = None) -> int:
    engine = sqlalchemy.create_engine(gateway.db_url)
    with engine.connect() as conn:
        query = "SELECT COUNT(*) FROM jobs"
        if key_hash_owner:
            query += f" WHERE owner_key_id = '{key_hash_owner}'"
        count = int(conn.execute(sqlalchemy.text(query)).scalar_one())
    engine.dispose()
    return count


def _key_id(gateway: Gateway, key: str) -> str:
    with gateway.http(key) as http:
        key_id: str = http.get("/key/info").json()["key_id"]
    return key_id


def test_replay_returns_the_same_job_and_charges_once(gateway: Gateway) -> None:
    key = gateway.new_key()
    body = {"prompt": "once", "model": "sora-2", "seconds": "2"}
    headers = {"Idempotency-Key": "abc-1"}
    with gateway.http(key) as http:
        first = http.post("/v1/videos", json=body, headers=headers).json()
        again = http.post("/v1/videos", json=body, headers=headers).json()
        info = http.get("/key/info").json()["info"]
        listed = http.get("/v1/videos").json()["data"]
    assert first["id"] == again["id"]
    assert info["spend"] == 0.2
    assert [v["id"] for v in listed] == [first["id"]]


def test_same_key_other_body_is_422(gateway: Gateway) -> None:
    key = gateway.new_key()
    headers = {"Idempotency-Key": "abc-2"}
    with gateway.http(key) as http:
        ok = http.post("/v1/videos", json={"prompt": "a", "model": "sora-2"}, headers=headers)
        clash = http.post("/v1/videos", json={"prompt": "b", "model": "sora-2"}, headers=headers)
    assert ok.status_code == 200
    assert clash.status_code == 422
    assert clash.json()["error"]["code"] == "idempotency_key_reused"


def test_multipart_and_json_replays_match_by_content(gateway: Gateway) -> None:
    key = gateway.new_key()
    headers = {"Idempotency-Key": "abc-3"}
    fields = {"prompt": "same", "model": "local/preview", "seconds": "1"}
    with gateway.http(key) as http:
        as_form = http.post(
            "/v1/videos",
            data=fields,
            files={"input_reference": ("a.png", png_bytes(), "image/png")},
            headers=headers,
        ).json()
        # Field order and multipart boundary differ on an SDK retry; the job is the same.
        again = http.post(
            "/v1/videos",
            data=dict(reversed(list(fields.items()))),
            files={"input_reference": ("a.png", png_bytes(), "image/png")},
            headers=headers,
        ).json()
        other_image = http.post(
            "/v1/videos",
            data=fields,
            files={"input_reference": ("a.png", png_bytes(rgb=(1, 2, 3)), "image/png")},
            headers=headers,
        )
    assert as_form["id"] == again["id"]
    assert other_image.status_code == 422


def test_keys_are_per_api_key(gateway: Gateway) -> None:
    body = {"prompt": "mine", "model": "local/preview", "seconds": "1"}
    headers = {"Idempotency-Key": "shared-name"}
    ids = set()
    for key in (gateway.new_key(), gateway.new_key()):
        with gateway.http(key) as http:
            ids.add(http.post("/v1/videos", json=body, headers=headers).json()["id"])
    assert len(ids) == 2


def test_concurrent_duplicates_start_one_job(gateway: Gateway) -> None:
    key = gateway.new_key()
    body = {"prompt": "race", "model": "sora-2", "seconds": "1"}
    results: list[tuple[int, str]] = []
    barrier = threading.Barrier(8)

    def fire() -> None:
        with gateway.http(key) as http:
            barrier.wait()
            reply = http.post("/v1/videos", json=body, headers={"Idempotency-Key": "race-1"})
            results.append((reply.status_code, reply.json().get("id", reply.text)))

    threads = [threading.Thread(target=fire) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 8
    assert {status for status, _ in results} == {200}
    assert len({video_id for _, video_id in results}) == 1
    assert _jobs_in_db(gateway, _key_id(gateway, key)) == 1
    with gateway.http(key) as http:
        assert http.get("/key/info").json()["info"]["spend"] == 0.1
