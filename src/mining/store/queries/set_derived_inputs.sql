UPDATE runs SET derived_inputs = $2 WHERE run_id = $1
