"""Baseline for the download benchmark: the tutorial's method, a thread pool of 4
fetching each URL with urllib and saving it under its base name.

Usage: download_urllib.py URLS_JSON OUT_DIR   (prints the seconds taken)
"""
import json
import os
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def fetch(job):
    url, folder = job
    with urllib.request.urlopen(url, timeout=30) as response:
        data = response.read()
    with open(os.path.join(folder, os.path.basename(url)), "wb") as f:
        f.write(data)


def main():
    urls, out = sys.argv[1], sys.argv[2]
    jobs = []
    for category, terms in json.load(open(urls)).items():
        for term, term_urls in terms.items():
            folder = os.path.join(out, category, term)
            os.makedirs(folder, exist_ok=True)
            jobs += [(u, folder) for u in term_urls]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(fetch, jobs))
    print(time.perf_counter() - start)


if __name__ == "__main__":
    main()
