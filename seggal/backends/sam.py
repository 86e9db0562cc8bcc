def build(method, checkpoint, device, target=None): raise NotImplementedError
