"""The scikit-learn sample script from "MLOps" articles, tracked by setpoint.

The script below the marked lines is the article's own (load a CSV, split, fit a random
forest, print its accuracy). The two lines marked "setpoint" are all it takes to turn it into
a tracked run with its training data versioned and the model registered:

    python examples/sklearn_autolog.py
    setpoint runs list
    setpoint models list

The article loads "your_data.CSV"; so that this example runs anywhere, it first writes such
a file from generated data.
"""

import numpy as np

if True:  # make the article's input file: 1,000 generated rows, no download
    rng = np.random.default_rng(0)
    frame = {f"feature_{i}": rng.normal(size=1000) for i in range(6)}
    signal = frame["feature_0"] + 0.5 * frame["feature_1"] * frame["feature_2"]
    frame["target_column"] = (signal + rng.normal(scale=0.5, size=1000) > 0).astype(int)
    import pandas

    pandas.DataFrame(frame).to_csv("your_data.CSV", index=False)

# ---- the article's script, with two added lines ---------------------------------------
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

import setpoint as sp  # setpoint

sp.autolog(registered_model_name="seed-random-forest")  # setpoint

# Load your dataset
data = pd.read_csv("your_data.CSV")
# Prepare your data: split into features (X) and target (y)
X = data.drop("target_column", axis=1)
y = data["target_column"]
# Split data into training and test sets
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3)
# Create a model and train it
model = RandomForestClassifier()
model.fit(X_train, y_train)
# Make predictions and evaluate the Model
predictions = model.predict(X_test)
print("Accuracy:", accuracy_score(y_test, predictions))
