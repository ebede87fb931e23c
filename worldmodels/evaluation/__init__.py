"""The evaluation library the commands `worldmodels.evaluate` and `worldmodels.compare` use:

    runs.py      load a run dir: its config, a 1-env copy of its env, its own agent (from the
                 checkpoint) and its world model (the agent's, or RUN_DIR/world_model.pt)
    episodes.py  timed evaluation episodes of any agent on fixed seeds, and their summary
    planners.py  planner agents (CEM, MPPI, random shooting) on a run's world model, with the
                 settings of configs/agent/<name>.yaml, and the run agent's planning prior
    command.py   the Hydra-app plumbing both commands share (argument keys, one-line errors)

An evaluation of anything that acts (a planner, the run's own agent, a random policy) is an
`Agent` handed to `episodes.run_episodes(agent, loaded.envs, episodes, seed)`; what a command does
with the result (a JSON file, a table, a chart, videos) is the command's.
"""
