"""The local job runner behind `torc run`: claims ready jobs over the client, runs each as
`bash -c COMMAND` in its own process group, and reports a result for every attempt.

`resources` keeps the CPU/memory/GPU accounting, `processes` spawns, reaps and stops job
processes, and `loop` drives the claim/start/complete cycle. Nothing here imports the server.
"""
