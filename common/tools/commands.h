// The rlvr subcommands, one per cmd_<name>.c file: each takes argv without the program name
// (argv[0] is the subcommand) and returns the process exit status (0 ok, 1 failure, 2 usage).
#pragma once

int cmd_sft(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_grade(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_algo(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_plan(int argc, char **argv);

// Runs the learner program next to rlvr with [first] argv[1..] [last] (execv; returns 1 only when it
// cannot); cmd names the subcommand in errors.
int exec_learner(const char *cmd, const char *first, int argc, char **argv, const char *last);
