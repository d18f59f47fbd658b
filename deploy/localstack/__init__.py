"""The local stack behind `make run` and `make test` (deploy/stack.py is its command line).

Standard library only: it runs with Debian's python3 before the virtualenv
exists. By concern, each module importing only those above it:

    base            paths, StackError, running a command
    profiles        the stacks by name and their ports
    install         Debian packages, the service user, .venv, the Node.js clients
    templates       `{{name}}` rendering (fab setup renders nginx with it too)
    redis_sentinel  Redis instances, replicas and Sentinels
    supervisor      supervisord: programs, states, ports
    postgres        the primary, the standby (repmgr), synchronous replication
    configs         every rendered file, the settings, the topology file
    compose         deploy/docker/'s files from the same templates
    lifecycle       up and down, in dependency order
    cli             the commands and options of deploy/stack.py
"""
