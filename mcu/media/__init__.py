"""mcu.media"""
