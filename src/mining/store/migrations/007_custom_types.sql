-- Custom failure types (issue 15): heads a business adds from examples on the model's pooled
-- features. `custom_version` names the set of enabled custom heads a prediction's custom types
-- come from (a digest; '' for none), so a run relabels from cached features only the stored
-- predictions whose custom types are out of date.
ALTER TABLE predictions ADD COLUMN custom_version VARCHAR;
