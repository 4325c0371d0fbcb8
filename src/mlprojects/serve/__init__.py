"""Serving: the digit sketchpad web app, its predictor, and the preprocessing shared with training."""

#: Gradio's ``delete_cache`` for every page: the files its cache holds for a page (uploads, drawings, and the pictures
#: and CSV files handed back) are deleted once they are an hour old, looked for every 10 minutes, and all of them when
#: the server stops. Gradio keeps them for ever otherwise: a page that answers all day would fill the disk.
CACHE_LIFETIME = (600, 3600)


def launch(app, host: str, port: int, block: bool, **options) -> None:
    """Start the Gradio APP on HOST:PORT (OPTIONS: more of ``launch()``'s); with BLOCK, serve until Ctrl-C or SIGTERM,
    then close it: its server stops and its cache is emptied. (Gradio's own wait, ``launch()`` without
    ``prevent_thread_lock``, answers Ctrl-C only: SIGTERM, as a service manager or ``kill`` stops a server, ended the
    process at once and left the page's files behind.)"""
    import signal
    import threading

    app.launch(server_name=host, server_port=port, prevent_thread_lock=True, show_error=True, quiet=not block,
               **options)
    if not block:
        return
    stopped = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        while app.is_running and not stopped.wait(0.1):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        app.close(verbose=False)
