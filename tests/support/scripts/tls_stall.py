"""Run by tests/test_stall.py in a process of its own: a Connect answer over TLS that goes silent after
a few frames, read through KimiClient, with gevent's monkey-patching first when the first argument is
"gevent" (the gateway's case). Prints the error's class and message, or "no error"."""
import sys

if sys.argv[1] == "gevent":
    from gevent import monkey

    monkey.patch_all()

import ssl  # noqa: E402  (after the patch, as in the gateway)

import trustme  # noqa: E402

from configs.settings import load_models  # noqa: E402
from kimi.connect.client import KimiClient  # noqa: E402
from kimi.errors import KimiError  # noqa: E402
from kimi.events import ChatRequest, Message  # noqa: E402
from kimi.models import ModelTable  # noqa: E402
from kimi.transport import Endpoints  # noqa: E402
from tests.support.fake_kimi import FakeKimi  # noqa: E402
from tests.support.jwts import make_jwt  # noqa: E402


def main() -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    with FakeKimi().start(tls=server_context) as kimi, authority.cert_pem.tempfile() as ca_file:
        kimi.stall(after_frames=6, seconds=20)
        client = KimiClient(endpoints=Endpoints(base_url=kimi.url), models=ModelTable(load_models()), read_timeout=0.3)
        client.session.verify = ca_file
        chat = ChatRequest(model="kimi-latest", messages=[Message("user", "Hello")], stream=True)
        stream = client.open_chat(chat, make_jwt(sub="tlsstalltlsstalltlss"))
        try:
            list(stream)
            print("no error")
        except KimiError as err:
            print(type(err).__name__, err.message)
        finally:
            stream.close()


if __name__ == "__main__":
    main()
