"""Fixtures for the LegacyClient tests, loaded with `pytest_plugins = ["tests.support.legacy_fixtures"]`: each test
module's own fake legacy upstream (`legacy`, emptied around every test) and a LegacyClient aimed at it.
Not conftest's fake_legacy_server: the gateways share that one, and their chat deletions can arrive after
a reply has ended (tests/test_api_legacy.py waits for them), into records these tests check exactly."""
import pytest

from configs.settings import load_models
from kimi.legacy.client import LegacyClient
from kimi.models import ModelTable
from kimi.transport import Endpoints
from tests.support.fake_kimi_legacy import FakeKimiLegacy
from tests.support.fake_server import emptied_around

_MODELS = ModelTable(load_models())


@pytest.fixture(scope="module")
def module_legacy_server():
    with FakeKimiLegacy() as fake:
        yield fake


@pytest.fixture
def legacy(module_legacy_server):
    """The test module's fake legacy upstream, emptied of scripts, records and state before and after."""
    yield from emptied_around(module_legacy_server)


@pytest.fixture
def legacy_client(legacy):
    return LegacyClient(endpoints=Endpoints(legacy_base_url=legacy.url), models=_MODELS, read_timeout=5)
