#!/usr/bin/env python3
"""Prints each failed test of a .trx file with its message and the head of its stack trace, so the
end of CI's output says what failed even when only its last lines are kept."""
import sys
import xml.etree.ElementTree as ET

NS = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}


def main(paths):
    failed = 0
    for path in paths:
        for result in ET.parse(path).getroot().iterfind(".//t:UnitTestResult", NS):
            if result.get("outcome") != "Failed":
                continue
            failed += 1
            message = result.findtext(".//t:ErrorInfo/t:Message", default="", namespaces=NS).strip()
            stack = result.findtext(".//t:ErrorInfo/t:StackTrace", default="", namespaces=NS).strip()
            print(f"FAILED {result.get('testName')} ({result.get('duration')})")
            print("  " + message[:2000].replace("\n", "\n  "))
            for line in stack.splitlines()[:6]:
                print("    " + line.strip())
    print(f"{failed} failed test(s)")


if __name__ == "__main__":
    main(sys.argv[1:])
