"""Reading models made by other tools (MLflow) into what ``shipyard.package.save`` takes."""
