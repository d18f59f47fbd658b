"""What `fab` does to a fleet (fabfile.py holds only the tasks), by concern:

inventory   the hosts, their roles and settings; the hosts a task runs on (-H)
remote      SSH to one host, steps on many in parallel, progress lines
rollout     build a release, prepare, migrate, switch, reload, prune; roll back
roles       `fab setup`: settings and topology files, nginx on the lb hosts
operations  management commands on db and redis hosts, every host's status
"""
