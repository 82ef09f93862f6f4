"""Functions for interviews.sandbox tests to run in its child process."""


def length(data):
    return len(data)


def spin(data):
    while True:
        pass


def hog_memory(data):
    return len(bytearray(1024 * 1024 * 1024))


def nap(data):
    import time

    time.sleep(60)
