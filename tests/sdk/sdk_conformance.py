"""Drives a running Identity OS server with the official Python SDK
(identity-os-sdk 0.9.0) and asserts on the values it returns.

Usage: python3 sdk_conformance.py BASE_URL API_KEY
Exits non-zero on the first failed assertion.
"""

import asyncio
import sys
from datetime import datetime, timedelta, timezone

from identity_os_sdk import AsyncIdentityOS, IdentityOS
from identity_os_sdk.exceptions import NotFoundError, ValidationError, RateLimitError, ConflictError
from identity_os_sdk.models import Action, Mode, StressLevel, SystemState

BASE, KEY = sys.argv[1], sys.argv[2]
ORIGIN = datetime(2030, 1, 1, tzinfo=timezone.utc)
SAFE = {Action.STABILIZE, Action.CLARIFY, Action.DEFER, Action.WITHDRAW}


def at(seconds):
    return ORIGIN + timedelta(seconds=seconds)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def instances_and_engine(client):
    inst = client.instances.create(
        name="SDK Agent",
        description="made by the SDK",
        initial_config={"energy_level": 1.0, "profile": {"core_modes": ["exploration"]}},
    )
    check(inst.id.startswith("inst_"), inst.id)
    check(inst.name == "SDK Agent" and inst.description == "made by the SDK", inst)

    got = client.instances.get(inst.id)
    check(got.id == inst.id and got.created_at == inst.created_at, got)
    renamed = client.instances.update(inst.id, name="Renamed")
    check(renamed.name == "Renamed" and renamed.description == "made by the SDK", renamed)
    listing = client.instances.list(limit=10)
    check(any(i.id == inst.id for i in listing.items) and listing.total >= 1 and listing.limit == 10, listing)

    # The documented tutorial: five stress observations at 0.9 from energy 1.0.
    levels, energies = [], []
    for i in range(5):
        result = client.engine.process(inst.id, mode_target="stress_response", signal_strength=0.9,
                                       confidence=1.0, timestamp=at(2 * i), context={"step": i})
        levels.append(result.snapshot.stress_level)
        energies.append(round(result.snapshot.energy_level, 2))
        check(set(result.contract.allowed_actions) == SAFE, result.contract.allowed_actions)
        check(Action.EMOTIONAL_MANIPULATION in result.contract.forbidden_actions, "always forbidden")
        check(result.drift is None, "no drift during warm-up")
    check(levels == [StressLevel.MED] + [StressLevel.HIGH] * 4, levels)
    check(energies == [1.0, 1.0, 0.87, 0.74, 0.61], energies)

    # Naive datetimes (utcnow-style) are UTC.
    naive = client.engine.process(inst.id, mode_target="EXPLORATION", signal_strength=0.3,
                                  timestamp=at(20).replace(tzinfo=None).isoformat())
    check(naive.snapshot.cycle_count == 6, naive.snapshot)

    batch = [{"mode_target": "exploration", "signal_strength": 0.8, "timestamp": at(30 + 2 * i).isoformat()}
             for i in range(20)]
    results = client.engine.batch_process(inst.id, batch, include_intermediate=True)
    check(len(results) == 20, len(results))
    check([r.snapshot.cycle_count for r in results] == list(range(7, 27)), "intermediate cycles")
    check(results[-1].drift is not None and results[-1].drift.level.startswith("D"), results[-1].drift)
    last = client.engine.batch_process(inst.id, [{"mode_target": "order", "signal_strength": 0.5,
                                                  "timestamp": at(100).isoformat()}])
    check(len(last) == 1 and last[0].snapshot.cycle_count == 27, last)

    snap = client.engine.snapshot(inst.id)
    check(snap.cycle_count == 27 and snap.instance_id == inst.id, snap)
    check(set(snap.mode_strengths) == {m.value for m in Mode}, snap.mode_strengths)
    check(snap.system_state in set(SystemState), snap.system_state)
    contract = client.engine.contract(inst.id)
    check(contract.instance_id == inst.id and contract.energy_level == snap.energy_level, contract)
    check(not set(contract.allowed_actions) & set(contract.forbidden_actions), "disjoint")

    history = client.engine.history(inst.id, limit=5, offset=0)
    check(history.total == 27 and len(history.items) == 5, history)
    check(history.items[0].cycle_number == 27 and history.items[0].mode_target == Mode.ORDER, history.items[0])
    drift = client.engine.drift(inst.id, limit=50)
    check(drift.instance_id == inst.id and drift.total == len(drift.items), drift)
    if drift.items:
        only = client.engine.drift(inst.id, type_filter=drift.items[0].level[:2])
        check(all(e.level == drift.items[0].level for e in only.items), only)

    reset = client.engine.reset(inst.id, mode="default")
    check(reset.cycle_count == 0 and reset.energy_level == 0.8, reset)
    check(all(v == 0.0 for v in reset.mode_strengths.values()), reset.mode_strengths)
    reset = client.engine.reset(inst.id)
    check(reset.energy_level == 1.0, "initial restores the creation state")

    try:
        client.engine.process(inst.id, mode_target="telepathy", signal_strength=0.5)
        check(False, "unknown mode accepted")
    except ValidationError as e:
        check(e.status_code == 422 and e.code == "invalid_request", e)

    client.instances.delete(inst.id)
    try:
        client.instances.get(inst.id)
        check(False, "deleted instance still readable")
    except NotFoundError as e:
        check(e.code == "not_found", e)


def personas_and_test(client):
    personas = client.personas.list()
    check(personas.total == 12 and len(personas.personas) == 12, personas.total)
    performer = client.personas.get("persona_performer")
    check(performer.name == "The Performer" and {performer.mode_a, performer.mode_b} == {Mode.CONNECTION, Mode.ASSERTION}, performer)
    check(len(performer.expressions) >= 1, performer.expressions)
    try:
        client.personas.get("persona_nobody")
        check(False, "unknown persona found")
    except NotFoundError:
        pass

    questions = client.test.questions("v1")
    check(questions.total == 14 and len(questions.questions) == 14, questions.total)
    check(client.test.questions("v3").total == 42, "v3 has 42 questions")
    answers = [{"question_id": q.id, "score": 5 if q.mode_target in (Mode.CONNECTION, Mode.ASSERTION) else 2}
               for q in questions.questions]
    result = client.test.submit(answers, create_instance=True, instance_name="Tested")
    check(result.snapshot.instance_id == result.instance_id, result)
    check(result.snapshot.persona_primary in ("persona_performer", "persona_catalyst"), result.snapshot.persona_primary)
    check(abs(result.snapshot.mode_strengths["connection"] - 1.0) < 1e-12, result.snapshot.mode_strengths)

    again = client.test.submit([{"question_id": q.id, "score": 3} for q in questions.questions], instance_id=result.instance_id)
    check(again.instance_id == result.instance_id, again)
    check(all(abs(v - 0.5) < 1e-12 for v in again.snapshot.mode_strengths.values()), again.snapshot.mode_strengths)
    try:
        client.test.submit(answers[:10], create_instance=True)
        check(False, "incomplete test accepted")
    except ValidationError as e:
        check(e.code == "incomplete_test", e)
    client.instances.delete(result.instance_id)


async def async_client():
    async with AsyncIdentityOS(api_key=KEY, base_url=BASE) as client:
        inst = await client.instances.create(name="Async")
        result = await client.engine.process(inst.id, mode_target="perception", signal_strength=0.7)
        check(round(result.snapshot.energy_level, 2) == 0.83, result.snapshot.energy_level)
        check(result.snapshot.stress_level == StressLevel.LOW, result.snapshot.stress_level)
        check(client.rate_limit is not None, "rate-limit info parsed")
        await client.instances.delete(inst.id)


def errors(client):
    bad = IdentityOS(api_key="idos_sk_wrongwrongwrongwrongwrongwrong12", base_url=BASE, max_retries=0)
    try:
        bad.instances.list()
        check(False, "bad key accepted")
    except Exception as e:
        check(getattr(e, "status_code", None) == 401 and e.code == "unauthorized", e)
    bad.close()
    strict = IdentityOS(api_key=KEY, base_url=BASE, max_retries=0)
    inst = strict.instances.create(name="Throttle")
    strict.engine.process(inst.id, mode_target="order")
    try:
        strict.engine.process(inst.id, mode_target="order")
        check(False, "second untimed observation not throttled")
    except RateLimitError as e:
        check(e.code == "throttled" and e.retry_after is not None and e.retry_after >= 1, e)
    strict.instances.delete(inst.id)
    strict.close()


def main():
    client = IdentityOS(api_key=KEY, base_url=BASE)
    instances_and_engine(client)
    personas_and_test(client)
    errors(client)
    client.close()
    asyncio.run(async_client())
    print("SDK conformance: all checks passed")


if __name__ == "__main__":
    main()
