"""Rewrite the bundled example, ``src/townfiscal/towns/data/guangdong.csv``, from the generator.

Run ``python tools/regenerate_example.py`` after changing the generator on purpose; the test
suite checks that ``tf.make_towns("guangdong")`` still reproduces the bundled file exactly.
"""

from townfiscal.rules import write_example

if __name__ == "__main__":
    print(f"wrote {write_example()}")
