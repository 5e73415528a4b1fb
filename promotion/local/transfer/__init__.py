"""Moving a version's files through the local registry's artifact proxy, as the acting principal.

    artifacts.py    where a version's files are; walk, copy, download, hash a tree of them
    stream_copy.py  one file: downloaded and uploaded at once (or relayed through the copy cache), hashed
    copy_cache.py   the files of the versions an adapter has just copied, kept for its gates
    private_tmp.py  private temp folders named after their process (orphans swept)
"""
