#!/bin/bash
# Submit one sharded app run to Slurm: the index job, then a K-task array that starts when it succeeded.
#   deploy/slurm/submit.sh APP INPUT OUTPUT MODELS PARTS [sbatch options...]
# e.g. deploy/slurm/submit.sh olt_mri /data/in /data/out/olt_mri models 8 --partition=cpu
# Prints the two job ids. MSK_PYTHON / MSK_REPO as in the .sbatch files; logs go to OUTPUT/slurm-logs/.
set -euo pipefail
if [ "$#" -lt 5 ]; then
    sed -n '2,5p' "$0" >&2
    exit 2
fi
app=$1 input=$(realpath "$2") output=$(realpath -m "$3") models=$(realpath "$4") parts=$5
shift 5
here=$(dirname "$(realpath "$0")")
repo=${MSK_REPO:-$(dirname "$(dirname "$here")")}
mkdir -p "$output/slurm-logs"
export MSK_APP=$app MSK_INPUT=$input MSK_OUTPUT=$output MSK_MODELS=$models MSK_REPO=$repo
export MSK_INDEX=${MSK_INDEX:-$output/study_index.json}
export MSK_PYTHON=${MSK_PYTHON:-python3}
index_job=$(sbatch --parsable --export=ALL --chdir="$repo" --output="$output/slurm-logs/index-%j.out" "$@" \
    "$here/msk-maps-index.sbatch")
array_job=$(sbatch --parsable --export=ALL --chdir="$repo" --dependency="afterok:$index_job" \
    --array="0-$((parts - 1))" --output="$output/slurm-logs/part-%A_%a.out" "$@" "$here/msk-maps-array.sbatch")
echo "index job $index_job, array job $array_job ($parts parts) -> $output"
