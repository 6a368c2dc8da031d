"""Run by tests/test_store.py in a process of its own (it forks, which pytest's threads make unsafe):
rounds of several forked workers making their first write to a new DATA_DIR at the same moment, the
first use of the value table in each. Prints how many rounds had a worker fail, and the first error."""
import multiprocessing
import sys
import tempfile

from gateway.store import FileStore

WORKERS = 8


def _first_write(directory: str, start, results) -> None:
    store = FileStore(directory)
    start.wait(30)
    try:
        store.remember(f"tip:{multiprocessing.current_process().name}", "m", ttl=60)
        results.put("")
    except Exception as exc:  # reported to the test, which names it
        results.put(repr(exc))
    finally:
        store.close()


def main() -> None:
    context = multiprocessing.get_context("fork")
    failed, first_error = 0, ""
    for _ in range(int(sys.argv[1])):
        with tempfile.TemporaryDirectory() as directory:
            start, results = context.Event(), context.Queue()
            workers = [context.Process(target=_first_write, args=(directory, start, results))
                       for _ in range(WORKERS)]
            for worker in workers:
                worker.start()
            start.set()
            errors = [error for error in (results.get(timeout=30) for _ in workers) if error]
            for worker in workers:
                worker.join(30)
            failed += bool(errors)
            first_error = first_error or (errors[0] if errors else "")
    print(failed, first_error)


if __name__ == "__main__":
    main()
